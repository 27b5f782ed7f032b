using Pipeline.Core.Configuration;

namespace Pipeline.Tasks.Jsonl;

/// <summary>
/// pipeline.task.jsonl: the users' data files and how their fields are named. See docs/tasks.md for the record format.
/// </summary>
/// <param name="Train">RL prompts (required).</param>
/// <param name="Demonstrations">Prompts with completions for the supervised warm-start ("" = none).</param>
/// <param name="HeldOut">Prompts with references for evaluation, per slice ("" = none).</param>
/// <param name="SkipInvalid">off: a malformed record stops the run at start-up naming file:line and field; on: it is skipped and counted.</param>
/// <param name="Format">auto (by extension: .parquet is Parquet, anything else JSON Lines) | jsonl | parquet.</param>
/// <param name="EvalMatch">The verifiable rule held-out accuracy uses (exact | numeric | contains | regex | json-schema), with its pipeline.rewards.&lt;rule&gt; settings.</param>
/// <param name="Columns">Canonical field name -> the name in the user's files (the column mapping).</param>
public sealed record JsonlTaskOptions(string Train, string Demonstrations, string HeldOut, bool SkipInvalid, string Format, string EvalMatch,
    IReadOnlyDictionary<string, string> Columns)
{
    public const string BlockPath = "pipeline.task.jsonl";

    /// <summary>The canonical fields a record may carry.</summary>
    public static readonly IReadOnlyList<string> Fields =
        ["id", "prompt", "messages", "reference", "references", "negatives", "rubric", "slice", "metadata", "completion"];

    public static readonly IReadOnlyList<string> EvalRules = ["exact", "numeric", "contains", "regex", "json-schema"];

    /// <summary>Reads and checks the block (values only; files are checked by <see cref="JsonlTaskData.Validate"/>).</summary>
    public static JsonlTaskOptions From(ConfigBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        var train = block.Str("train", "").Trim();
        if (train.Length == 0)
            throw block.Error("train", "", "name the file of RL prompts (JSON Lines or Parquet), e.g. --set task.jsonl.train=data/train.jsonl");
        var format = block.Parse("format", "auto", s => s is "auto" or "jsonl" or "parquet" ? s : throw new FormatException("expected auto | jsonl | parquet"));
        var evalMatch = block.Parse("eval-match", "exact", s => EvalRules.Contains(s) ? s : throw new FormatException($"expected {string.Join(" | ", EvalRules)}"));
        var columns = Fields.ToDictionary(f => f, f => block.Str("columns." + f, f).Trim(), StringComparer.Ordinal);
        foreach (var (field, column) in columns)
            if (column.Length == 0) throw block.Error("columns." + field, "", "a column name cannot be empty");
        return new JsonlTaskOptions(train, block.Str("demonstrations", "").Trim(), block.Str("heldout", "").Trim(), block.Bool("skip-invalid", false),
            format, evalMatch, columns);
    }

    /// <summary>Whether <paramref name="path"/> is read as Parquet.</summary>
    public bool IsParquet(string path) => Format == "parquet" || (Format == "auto" && path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase));
}
