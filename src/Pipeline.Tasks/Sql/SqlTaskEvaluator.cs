using Pipeline.Core.Protocol;

namespace Pipeline.Tasks.Sql;

/// <summary>Execution accuracy and exact (normalised) match, per language and overall.</summary>
public sealed record SqlEvalReport(
    IReadOnlyDictionary<string, (int Count, double ExecAcc, double ExactMatch)> PerLanguage,
    (int Count, double ExecAcc, double ExactMatch) Overall)
{
    public override string ToString()
        => string.Join("; ", PerLanguage.OrderBy(p => p.Key, StringComparer.Ordinal)
               .Select(p => $"{p.Key}: n={p.Value.Count} exec={p.Value.ExecAcc:0.000} exact={p.Value.ExactMatch:0.000}"))
           + $"; all: n={Overall.Count} exec={Overall.ExecAcc:0.000} exact={Overall.ExactMatch:0.000}";
}

/// <summary>Scores predictions sequentially with a short per-query time limit. Gold results are computed once per call.</summary>
public sealed class SqlTaskEvaluator(SqlExecutor executor, TimeSpan? timeout = null)
{
    readonly TimeSpan _timeout = timeout ?? TimeSpan.FromMilliseconds(500);

    public SqlEvalReport Evaluate(IEnumerable<(SqlExample Example, string PredictedSql)> predictions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var gold = new Dictionary<(string Db, string Sql), SqlExecutionResult>();
        var outcomes = new List<(string Language, bool Exec, bool Exact)>();
        foreach (var (example, predictedSql) in predictions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var sql = SqlCompletion.Extract(predictedSql);
            if (!gold.TryGetValue((example.DbId, example.GoldSql), out var goldResult))
                gold[(example.DbId, example.GoldSql)] = goldResult = executor.Execute(example.DbId, example.GoldSql, TimeSpan.FromSeconds(5), cancellationToken);
            // Read a prediction only as far as it can still match the gold result.
            var shape = goldResult is { Ok: true, Truncated: false } ? SqlExpectedShape.Of(goldResult) : null;
            var predicted = executor.Execute(example.DbId, sql, _timeout, shape, cancellationToken);
            var exec = SqlResultComparer.Equivalent(goldResult, predicted, SqlResultComparer.OrderMatters(example.GoldSql));
            var exact = SqlNormalizer.Normalize(sql) == SqlNormalizer.Normalize(example.GoldSql);
            outcomes.Add((example.Language, exec, exact));
        }

        static (int, double, double) Summarise(IReadOnlyCollection<(string Language, bool Exec, bool Exact)> xs)
            => xs.Count == 0 ? (0, 0, 0) : (xs.Count, xs.Count(x => x.Exec) / (double)xs.Count, xs.Count(x => x.Exact) / (double)xs.Count);

        var perLanguage = outcomes.GroupBy(o => o.Language, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Summarise(g.ToList()), StringComparer.Ordinal);
        return new SqlEvalReport(perLanguage, Summarise(outcomes));
    }

    /// <summary>Convenience for callers that hold prompts: pairs each example with a policy's answer to its prompt.</summary>
    public SqlEvalReport Evaluate(SqlTaskData data, IEnumerable<SqlExample> examples, Func<Prompt, string> policy,
        CancellationToken cancellationToken = default)
        => Evaluate(examples.Select(e => (e, policy(data.ToPrompt(e)))), cancellationToken);
}
