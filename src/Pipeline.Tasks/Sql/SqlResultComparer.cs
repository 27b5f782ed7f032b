namespace Pipeline.Tasks.Sql;

/// <summary>
/// The older entry points, kept for callers written against them: each delegates to <see cref="ExecutionMatch"/> with exact numbers.
/// New code should call <see cref="ExecutionMatch.Compare(SqlExecutionResult, SqlExecutionResult, string, ExecutionMatchOptions?)"/>,
/// which also says when a verdict is invalid rather than a mismatch.
/// </summary>
public static class SqlResultComparer
{
    /// <summary>True when <see cref="ExecutionMatch"/> finds a match; a failed, capped or stopped result never is one.</summary>
    public static bool Equivalent(SqlExecutionResult gold, SqlExecutionResult predicted, bool orderMatters)
        => ExecutionMatch.Compare(gold, predicted, orderMatters).IsMatch;

    /// <summary>See <see cref="ExecutionMatch.OrderMatters"/>: a top-level ORDER BY in the gold query.</summary>
    public static bool OrderMatters(string goldSql) => ExecutionMatch.OrderMatters(goldSql);

    /// <summary>See <see cref="ExecutionMatch.ValuesEqual"/> (exact).</summary>
    public static bool ValuesEqual(SqlValue a, SqlValue b) => ExecutionMatch.ValuesEqual(a, b);
}
