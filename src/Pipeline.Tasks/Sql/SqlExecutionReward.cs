using System.Collections.Concurrent;
using System.Diagnostics;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Execution accuracy as a reward: 1 when the completion's result matches the gold query's (<see cref="ExecutionMatch"/>, the
/// semantics of test-suite-sql-eval), else 0. With several instances of the database (<see cref="SqlExecutor.InstancesOf"/>) it must
/// match on every one.
/// Bad SQL from the policy (syntax error, write attempt, timeout) is a valid 0 with the reason in Details;
/// an unknown database or a failing gold query is our fault, so the whole group is Invalid.
/// A predicted query is read only as far as it can still match: more rows than the gold result, or another column count when the
/// gold result is not empty, is a certain mismatch, a valid 0, found without reading the rest. A result nobody can judge (over the
/// executor's byte budget, <see cref="SqlErrorKind.TooLarge"/>, or its row cap) is an Invalid signal, and counted (<see cref="AddMetrics"/>).
/// Gold results are cached per (prompt id, db instance, gold SQL); timeouts are not cached since they may be load, not the query.
/// </summary>
public sealed class SqlExecutionReward : IRewardSource, IReportsMetrics
{
    readonly SqlExecutor _executor;
    readonly TimeSpan _timeout;
    readonly TimeSpan _goldTimeout;
    readonly ExecutionMatchOptions _match;
    readonly ConcurrentDictionary<(string PromptId, string Db, string Gold), SqlExecutionResult> _gold = new();
    long _queries, _tooLarge, _rowCapped, _timeouts, _stoppedEarly;

    /// <param name="timeout">Time limit per predicted query (default 1 s).</param>
    /// <param name="goldTimeout">Time limit for a gold query (default 5 s; gold queries are small, a timeout there means trouble).</param>
    /// <param name="match">How numbers compare (default exact; pipeline.task.sql.relative-tolerance).</param>
    public SqlExecutionReward(SqlExecutor executor, TimeSpan? timeout = null, TimeSpan? goldTimeout = null, ExecutionMatchOptions? match = null)
    {
        _executor = executor ?? throw new ArgumentNullException(nameof(executor));
        _timeout = timeout ?? TimeSpan.FromSeconds(1);
        _goldTimeout = goldTimeout ?? TimeSpan.FromSeconds(5);
        _match = match ?? ExecutionMatchOptions.Exact;
    }

    public string Name => "execution";
    public RewardSourceKind Kind => RewardSourceKind.Fast;
    public (double Min, double Max) Range => (0, 1);

    /// <summary>
    /// Counters since start: predicted queries run (one per database instance), those over the byte budget and those cut at the row cap
    /// (both invalid signals), those past the time limit, and those stopped early as a certain mismatch.
    /// </summary>
    public void AddMetrics(IDictionary<string, double> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        data["execution/queries"] = Interlocked.Read(ref _queries);
        data["execution/too_large"] = Interlocked.Read(ref _tooLarge);
        data["execution/row_capped"] = Interlocked.Read(ref _rowCapped);
        data["execution/timeouts"] = Interlocked.Read(ref _timeouts);
        data["execution/stopped_early"] = Interlocked.Read(ref _stoppedEarly);
    }

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        return Task.Run(() => Score(group, cancellationToken), cancellationToken);
    }

    IReadOnlyList<RewardSignal> Score(RolloutGroup group, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var db = group.Prompt.Tag("db");
        var goldSql = group.Prompt.Reference;
        string? goldProblem = null;
        var golds = new List<(string Instance, SqlExecutionResult Result)>();
        if (string.IsNullOrWhiteSpace(goldSql)) goldProblem = "prompt has no gold SQL reference";
        else if (!_executor.HasDatabase(db)) goldProblem = $"unknown database '{db}'";
        else
        {
            foreach (var instance in _executor.InstancesOf(db))
            {
                var gold = Gold(group.Prompt.Id, instance, goldSql, ct);
                if (!gold.Ok) goldProblem = $"gold query failed on {instance} ({gold.Error}): {gold.Message}";
                else if (gold.Truncated) goldProblem = $"gold result on {instance} too long to compare: {gold.Message}";
                if (goldProblem is not null) break;
                golds.Add((instance, gold));
            }
        }
        if (goldProblem is not null)
            return group.Rollouts.Select(_ => RewardSignal.Invalid(Name, goldProblem, clock.Elapsed)).ToArray();

        var orderMatters = ExecutionMatch.OrderMatters(goldSql!);
        var signals = new RewardSignal[group.Rollouts.Length];
        for (var i = 0; i < signals.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var verdict = Judge(golds, orderMatters, SqlCompletion.Extract(group.Rollouts[i].CompletionText), ct);
            var latency = Stopwatch.GetElapsedTime(started);
            signals[i] = verdict.Kind switch
            {
                ExecutionVerdictKind.Invalid => RewardSignal.Invalid(Name, verdict.Reason, latency),
                ExecutionVerdictKind.Match => RewardSignal.Ok(Name, 1, latency, verdict.Reason),
                _ => RewardSignal.Ok(Name, 0, latency, verdict.Reason),
            };
        }
        return signals;
    }

    /// <summary>A mismatch on any instance decides (valid 0); otherwise an unjudgeable instance makes the verdict invalid.</summary>
    ExecutionVerdict Judge(List<(string Instance, SqlExecutionResult Result)> golds, bool orderMatters, string sql, CancellationToken ct)
    {
        ExecutionVerdict? invalid = null;
        foreach (var (instance, gold) in golds)
        {
            ct.ThrowIfCancellationRequested();
            var predicted = _executor.Execute(instance, sql, _timeout, SqlExpectedShape.Of(gold), ct);
            Interlocked.Increment(ref _queries);
            if (predicted.Error == SqlErrorKind.TooLarge) Interlocked.Increment(ref _tooLarge);
            else if (predicted.RowCapReached) Interlocked.Increment(ref _rowCapped);
            else if (predicted.Error == SqlErrorKind.Timeout) Interlocked.Increment(ref _timeouts);
            else if (predicted.Truncated) Interlocked.Increment(ref _stoppedEarly);
            var verdict = ExecutionMatch.Compare(gold, predicted, orderMatters, _match);
            if (golds.Count > 1 && !verdict.IsMatch) verdict = verdict with { Reason = $"{verdict.Reason} (on {instance})" };
            if (verdict.Kind == ExecutionVerdictKind.NoMatch) return verdict;
            if (verdict.IsInvalid) invalid ??= verdict;
        }
        return invalid ?? ExecutionVerdict.Match;
    }

    SqlExecutionResult Gold(string promptId, string db, string goldSql, CancellationToken ct)
    {
        var key = (promptId, db, goldSql);
        if (_gold.TryGetValue(key, out var cached)) return cached;
        var result = _executor.Execute(db, goldSql, _goldTimeout, ct);
        if (result.Error != SqlErrorKind.Timeout) _gold[key] = result;
        return result;
    }
}
