using System.Collections.Concurrent;
using System.Diagnostics;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Execution accuracy as a reward: 1 when the completion's result set equals the gold query's, else 0.
/// Bad SQL from the policy (syntax error, write attempt, timeout) is a valid 0 with the reason in Details;
/// an unknown database or a failing gold query is our fault, so the whole group is Invalid.
/// Gold results are cached per (prompt id, db, gold SQL); timeouts are not cached since they may be load, not the query.
/// </summary>
public sealed class SqlExecutionReward : IRewardSource
{
    readonly SqlExecutor _executor;
    readonly TimeSpan _timeout;
    readonly TimeSpan _goldTimeout;
    readonly ConcurrentDictionary<(string PromptId, string Db, string Gold), SqlExecutionResult> _gold = new();

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
        }
        if (goldProblem is not null)
            return group.Rollouts.Select(_ => RewardSignal.Invalid(Name, goldProblem, clock.Elapsed)).ToArray();

        var orderMatters = SqlResultComparer.OrderMatters(goldSql!);
        var signals = new RewardSignal[group.Rollouts.Length];
        for (var i = 0; i < signals.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            var predicted = _executor.Execute(db, SqlCompletion.Extract(group.Rollouts[i].CompletionText), _timeout, ct);
            string details;
            double value;
            if (!predicted.Ok)
            {
                (value, details) = (0, $"{predicted.Error}: {predicted.Message}");
            }
            else if (SqlResultComparer.Equivalent(gold!, predicted, orderMatters))
            {
                (value, details) = (1, "match");
            }
            else
            {
                (value, details) = (0, predicted.Truncated
                    ? $"mismatch: more than {_executor.MaxRows} rows"
                    : $"mismatch: {predicted.Rows.Count}x{predicted.ColumnCount} vs gold {gold!.Rows.Count}x{gold.ColumnCount}");
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
