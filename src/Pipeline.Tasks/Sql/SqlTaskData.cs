using System.Collections.Immutable;
using Pipeline.Core.Protocol;

namespace Pipeline.Tasks.Sql;

/// <summary>The whole generated task: databases plus the three splits.</summary>
public sealed record SqlTaskData(
    SqlDatasetOptions Options,
    IReadOnlyDictionary<string, SqlSchema> Schemas,
    IReadOnlyList<SqlExample> Sft,
    IReadOnlyList<SqlExample> Rl,
    IReadOnlyList<SqlExample> HeldOut)
{
    public IEnumerable<SqlExample> All => Sft.Concat(Rl).Concat(HeldOut);

    public IReadOnlyList<SqlExample> Split(string split) => split switch
    {
        SqlSplits.Sft => Sft,
        SqlSplits.Rl => Rl,
        SqlSplits.HeldOut => HeldOut,
        _ => throw new ArgumentException($"unknown split '{split}'", nameof(split)),
    };

    /// <summary>What the policy sees is compact (<c>[db] [lang] question</c>); the gold SQL travels as the reference.</summary>
    public Prompt ToPrompt(SqlExample e) => new(
        e.Id,
        $"[{e.DbId}] [{e.Language}] {e.Question}",
        e.GoldSql,
        ImmutableDictionary<string, string>.Empty
            .Add("lang", e.Language)
            .Add("db", e.DbId)
            .Add("split", e.Split)
            .Add("query_type", e.QueryType)
            .Add("template", e.TemplateId));
}
