using Pipeline.Core.Protocol;

namespace Pipeline.Core.Rewards;

/// <summary>Fast sources run in-process next to the annotation stage; slow ones (remote judges) get their own bounded pool.</summary>
public enum RewardSourceKind { Fast, Slow }

/// <summary>
/// A reward source scores a whole group at once (so group-aware sources fit the same contract)
/// and returns exactly one signal per rollout, in rollout order.
/// Implementations must honour the cancellation token; the annotation stage cancels at the deadline
/// and marks whatever is missing as invalid.
/// </summary>
public interface IRewardSource
{
    string Name { get; }
    RewardSourceKind Kind { get; }
    /// <summary>Inclusive range of valid values; a value outside it is reported as invalid by the caller.</summary>
    (double Min, double Max) Range { get; }

    Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken);
}

/// <summary>
/// A source with its own counters (a critic's retries and failures by reason, an embedding cache's hit rate).
/// The learner adds them to every step's metrics, under the source's name.
/// </summary>
public interface IReportsMetrics
{
    /// <summary>Adds this source's counters to <paramref name="data"/>, keys like "critic/&lt;name&gt;/retries". Must be thread-safe.</summary>
    void AddMetrics(IDictionary<string, double> data);
}
