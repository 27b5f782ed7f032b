using System.Diagnostics;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// A small weighted rule set that gives partial credit for well-formed SQL without running it:
/// score = sum(weight * met) / sum(positive weights), clipped to [0, 1]. Details list every criterion as name=0|1.
/// </summary>
public sealed class SqlRubricReward : IRewardSource
{
    public sealed record Criterion(string Name, double Weight);

    public static readonly IReadOnlyList<Criterion> Criteria =
    [
        new("parses", 3),
        new("read_only_select", 3),
        new("known_tables", 2),
        new("complete", 1),
        new("select_star", -1),
    ];

    static readonly double PositiveWeight = Criteria.Where(c => c.Weight > 0).Sum(c => c.Weight);

    readonly SqlExecutor _executor;

    public SqlRubricReward(SqlExecutor executor) => _executor = executor ?? throw new ArgumentNullException(nameof(executor));

    public string Name => "rubric";
    public RewardSourceKind Kind => RewardSourceKind.Fast;
    public (double Min, double Max) Range => (0, 1);

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        return Task.Run<IReadOnlyList<RewardSignal>>(() =>
        {
            var db = group.Prompt.Tag("db");
            if (!_executor.HasDatabase(db))
                return group.Rollouts.Select(_ => RewardSignal.Invalid(Name, $"unknown database '{db}'", TimeSpan.Zero)).ToArray();
            return group.Rollouts.Select(r =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                var started = Stopwatch.GetTimestamp();
                var (score, details) = Evaluate(db, r.CompletionText, r.Truncated);
                return RewardSignal.Ok(Name, score, Stopwatch.GetElapsedTime(started), details);
            }).ToArray();
        }, cancellationToken);
    }

    /// <summary>Scores one completion; public so evaluation code and tests can call it without building a group.</summary>
    public (double Score, string Details) Evaluate(string db, string completion, bool truncated)
    {
        var sql = SqlCompletion.Extract(completion);
        var info = _executor.Inspect(db, sql);
        var tokens = SqlTokenizer.Tokenize(sql);
        var met = new Dictionary<string, bool>
        {
            ["parses"] = info.Parses,
            ["read_only_select"] = info.Parses && info.SingleStatement && info.ReadOnly && info.ReturnsRows
                                   && tokens.Count > 0 && (tokens[0].IsWord("SELECT") || tokens[0].IsWord("WITH")),
            ["known_tables"] = ReferencesOnlyKnownTables(tokens, _executor.Tables(db)),
            ["complete"] = !truncated && sql.Length > 0,
            ["select_star"] = SelectsStar(tokens),
        };
        var raw = Criteria.Sum(c => met[c.Name] ? c.Weight : 0) / PositiveWeight;
        var details = string.Join(' ', Criteria.Select(c => $"{c.Name}={(met[c.Name] ? 1 : 0)}"));
        return (Math.Clamp(raw, 0, 1), details);
    }

    /// <summary>Table names follow FROM, JOIN or a comma in a FROM list; names defined by WITH (CTEs) count as known.</summary>
    static bool ReferencesOnlyKnownTables(IReadOnlyList<SqlToken> tokens, IReadOnlySet<string> known)
    {
        var cteNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 2 < tokens.Count; i++)
            if (tokens[i].Kind == SqlTokenKind.Word && tokens[i + 1].IsWord("AS") && tokens[i + 2].IsSymbol("("))
                cteNames.Add(tokens[i].Text);

        var referenced = new List<string>();
        var inFrom = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t.IsWord("FROM") || t.IsWord("JOIN") || (inFrom && t.IsSymbol(",")))
            {
                inFrom = true;
                if (i + 1 < tokens.Count && tokens[i + 1].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier)
                {
                    var j = i + 1;
                    while (j + 2 < tokens.Count && tokens[j + 1].IsSymbol(".")) j += 2; // schema.table -> table
                    referenced.Add(tokens[j].Text.Trim('"', '`', '[', ']'));
                }
            }
            else if (t.IsWord("WHERE") || t.IsWord("GROUP") || t.IsWord("ORDER") || t.IsWord("LIMIT") || t.IsWord("HAVING")
                     || t.IsSymbol("(") || t.IsSymbol(")"))
            {
                inFrom = false;
            }
        }
        return referenced.Count > 0 && referenced.All(name => known.Contains(name) || cteNames.Contains(name));
    }

    static bool SelectsStar(IReadOnlyList<SqlToken> tokens)
    {
        for (var i = 0; i + 1 < tokens.Count; i++)
        {
            if (!tokens[i].IsWord("SELECT")) continue;
            var j = i + 1;
            if (tokens[j].IsWord("DISTINCT") || tokens[j].IsWord("ALL")) j++;
            if (j < tokens.Count && tokens[j].IsSymbol("*")) return true;
        }
        return false;
    }
}
