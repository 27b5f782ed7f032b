using System.Collections.Concurrent;
using System.Diagnostics;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Execution accuracy as a reward: 1 when the completion's result set equals the gold query's, else 0.
/// Bad SQL from the policy (syntax error, write attempt, timeout) is a valid 0 with the reason in Details;
/// an unknown database or a failing gold query is our fault, so the whole group is Invalid.
/// A predicted query is read only as far as it can still match: another column count or more rows than the gold result is a
/// certain mismatch, a valid 0, found without reading the rest. A predicted result over the executor's byte budget
/// (<see cref="SqlErrorKind.TooLarge"/>) could not be scored, so its signal is Invalid, and counted (<see cref="AddMetrics"/>).
/// Gold results are cached per (prompt id, db, gold SQL); timeouts are not cached since they may be load, not the query.
/// </summary>
public sealed class SqlExecutionReward : IRewardSource, IReportsMetrics
{
    readonly SqlExecutor _executor;
    readonly TimeSpan _timeout;
    readonly TimeSpan _goldTimeout;
    readonly ConcurrentDictionary<(string PromptId, string Db, string Gold), SqlExecutionResult> _gold = new();
    long _queries, _tooLarge, _timeouts, _stoppedEarly;

    /// <param name="timeout">Time limit per predicted query (default 1 s).</param>
    /// <param name="goldTimeout">Time limit for a gold query (default 5 s; gold queries are small, a timeout there means trouble).</param>
    public SqlExecutionReward(SqlExecutor executor, TimeSpan? timeout = null, TimeSpan? goldTimeout = null)
    {
        _executor = executor ?? throw new ArgumentNullException(nameof(executor));
        _timeout = timeout ?? TimeSpan.FromSeconds(1);
        _goldTimeout = goldTimeout ?? TimeSpan.FromSeconds(5);
    }

    public string Name => "execution";
    public RewardSourceKind Kind => RewardSourceKind.Fast;
    public (double Min, double Max) Range => (0, 1);

    /// <summary>
    /// Counters since start: predicted queries run, those over the byte budget (invalid signals), those past the time limit, and
    /// those stopped early as a certain mismatch.
    /// </summary>
    public void AddMetrics(IDictionary<string, double> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        data["execution/queries"] = Interlocked.Read(ref _queries);
        data["execution/too_large"] = Interlocked.Read(ref _tooLarge);
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
        SqlExecutionResult? gold = null;
        if (string.IsNullOrWhiteSpace(goldSql)) goldProblem = "prompt has no gold SQL reference";
        else if (!_executor.HasDatabase(db)) goldProblem = $"unknown database '{db}'";
        else
        {
            gold = Gold(group.Prompt.Id, db, goldSql, ct);
            if (!gold.Ok) goldProblem = $"gold query failed ({gold.Error}): {gold.Message}";
            else if (gold.Truncated) goldProblem = $"gold result too long to compare: {gold.Message}";
        }
        if (goldProblem is not null)
            return group.Rollouts.Select(_ => RewardSignal.Invalid(Name, goldProblem, clock.Elapsed)).ToArray();

        var orderMatters = SqlResultComparer.OrderMatters(goldSql!);
        var shape = SqlExpectedShape.Of(gold!);
        var signals = new RewardSignal[group.Rollouts.Length];
        for (var i = 0; i < signals.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            var predicted = _executor.Execute(db, SqlCompletion.Extract(group.Rollouts[i].CompletionText), _timeout, shape, ct);
            Interlocked.Increment(ref _queries);
            if (predicted.Error == SqlErrorKind.TooLarge)
            {
                Interlocked.Increment(ref _tooLarge);
                signals[i] = RewardSignal.Invalid(Name, $"{predicted.Error}: {predicted.Message}", Stopwatch.GetElapsedTime(started));
                continue;
            }
            string details;
            double value;
            if (!predicted.Ok)
            {
                if (predicted.Error == SqlErrorKind.Timeout) Interlocked.Increment(ref _timeouts);
                (value, details) = (0, $"{predicted.Error}: {predicted.Message}");
            }
            else if (predicted.Truncated)
            {
                Interlocked.Increment(ref _stoppedEarly);
                (value, details) = (0, $"mismatch: {predicted.Message}");
            }
            else if (SqlResultComparer.Equivalent(gold!, predicted, orderMatters))
            {
                (value, details) = (1, "match");
            }
            else
            {
                (value, details) = (0, $"mismatch: {predicted.Rows.Count}x{predicted.ColumnCount} vs gold {gold!.Rows.Count}x{gold.ColumnCount}");
            }
            signals[i] = RewardSignal.Ok(Name, value, Stopwatch.GetElapsedTime(started), details);
        }
        return signals;
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
