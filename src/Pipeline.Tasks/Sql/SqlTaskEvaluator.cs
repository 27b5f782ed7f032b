using Pipeline.Core.Protocol;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Execution accuracy and exact (normalised) match, per language and overall. Execution accuracy is over the examples that could be
/// judged; <see cref="Invalid"/> counts those that could not (failing gold query, a result cut at the row cap or the byte budget).
/// </summary>
public sealed record SqlEvalReport(
    IReadOnlyDictionary<string, (int Count, double ExecAcc, double ExactMatch)> PerLanguage,
    (int Count, double ExecAcc, double ExactMatch) Overall)
{
    /// <summary>Examples whose execution verdict was invalid (left out of ExecAcc, kept in Count and ExactMatch).</summary>
    public int Invalid { get; init; }

    public override string ToString()
        => string.Join("; ", PerLanguage.OrderBy(p => p.Key, StringComparer.Ordinal)
               .Select(p => $"{p.Key}: n={p.Value.Count} exec={p.Value.ExecAcc:0.000} exact={p.Value.ExactMatch:0.000}"))
           + $"; all: n={Overall.Count} exec={Overall.ExecAcc:0.000} exact={Overall.ExactMatch:0.000}"
           + (Invalid > 0 ? $"; invalid={Invalid}" : "");
}

/// <summary>
/// Scores predictions sequentially with a short per-query time limit, with <see cref="ExecutionMatch"/> on every instance of the
/// example's database. Gold results are computed once per call.
/// </summary>
public sealed class SqlTaskEvaluator(SqlExecutor executor, TimeSpan? timeout = null, ExecutionMatchOptions? match = null)
{
    readonly TimeSpan _timeout = timeout ?? TimeSpan.FromMilliseconds(500);
    readonly ExecutionMatchOptions _match = match ?? ExecutionMatchOptions.Exact;

    public SqlEvalReport Evaluate(IEnumerable<(SqlExample Example, string PredictedSql)> predictions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var gold = new Dictionary<(string Db, string Sql), SqlExecutionResult>();
        var outcomes = new List<(string Language, ExecutionVerdictKind Exec, bool Exact)>();
        foreach (var (example, predictedSql) in predictions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var sql = SqlCompletion.Extract(predictedSql);
            var exec = Judge(example, sql, gold, cancellationToken).Kind;
            var exact = SqlNormalizer.Normalize(sql) == SqlNormalizer.Normalize(example.GoldSql);
            outcomes.Add((example.Language, exec, exact));
        }

        static (int, double, double) Summarise(IReadOnlyCollection<(string Language, ExecutionVerdictKind Exec, bool Exact)> xs)
        {
            var judged = xs.Count(x => x.Exec != ExecutionVerdictKind.Invalid);
            return xs.Count == 0 ? (0, 0, 0) : (xs.Count,
                judged == 0 ? 0 : xs.Count(x => x.Exec == ExecutionVerdictKind.Match) / (double)judged,
                xs.Count(x => x.Exact) / (double)xs.Count);
        }

        var perLanguage = outcomes.GroupBy(o => o.Language, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Summarise(g.ToList()), StringComparer.Ordinal);
        return new SqlEvalReport(perLanguage, Summarise(outcomes)) { Invalid = outcomes.Count(o => o.Exec == ExecutionVerdictKind.Invalid) };
    }

    /// <summary>A mismatch on any instance decides; otherwise an unjudgeable instance makes the verdict invalid.</summary>
    ExecutionVerdict Judge(SqlExample example, string sql, Dictionary<(string Db, string Sql), SqlExecutionResult> gold, CancellationToken ct)
    {
        var instances = executor.InstancesOf(example.DbId);
        if (instances.Count == 0) return ExecutionVerdict.Invalid($"unknown database '{example.DbId}'");
        var orderMatters = ExecutionMatch.OrderMatters(example.GoldSql);
        ExecutionVerdict? invalid = null;
        foreach (var instance in instances)
        {
            if (!gold.TryGetValue((instance, example.GoldSql), out var goldResult))
                gold[(instance, example.GoldSql)] = goldResult = executor.Execute(instance, example.GoldSql, TimeSpan.FromSeconds(5), ct);
            // Read a prediction only as far as it can still match the gold result.
            var shape = goldResult is { Ok: true, Truncated: false } ? SqlExpectedShape.Of(goldResult) : null;
            var verdict = ExecutionMatch.Compare(goldResult, executor.Execute(instance, sql, _timeout, shape, ct), orderMatters, _match);
            if (verdict.Kind == ExecutionVerdictKind.NoMatch) return verdict;
            if (verdict.IsInvalid) invalid ??= verdict;
        }
        return invalid ?? ExecutionVerdict.Match;
    }

    /// <summary>Convenience for callers that hold prompts: pairs each example with a policy's answer to its prompt.</summary>
    public SqlEvalReport Evaluate(SqlTaskData data, IEnumerable<SqlExample> examples, Func<Prompt, string> policy,
        CancellationToken cancellationToken = default)
        => Evaluate(examples.Select(e => (e, policy(data.ToPrompt(e)))), cancellationToken);
}
