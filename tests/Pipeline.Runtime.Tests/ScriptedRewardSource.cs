using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Runtime.Tests;

/// <summary>A reward source whose answer (and misbehaviour) the test writes down in advance.</summary>
public sealed class ScriptedRewardSource(
    string name,
    Func<RolloutGroup, CancellationToken, Task<IReadOnlyList<RewardSignal>>> score,
    RewardSourceKind kind = RewardSourceKind.Fast,
    (double Min, double Max)? range = null) : IRewardSource
{
    public string Name { get; } = name;
    public RewardSourceKind Kind { get; } = kind;
    public (double Min, double Max) Range { get; } = range ?? (0.0, 1.0);

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
        => score(group, cancellationToken);

    /// <summary>Rollout i gets values[i] (NaN: an invalid signal).</summary>
    public static ScriptedRewardSource Values(string name, params double[] values)
        => new(name, (group, _) => Task.FromResult(Signals(name, group, values)));

    /// <summary>Answers with <paramref name="values"/> after <paramref name="delay"/>; may ignore cancellation like a stuck remote judge.</summary>
    public static ScriptedRewardSource Delayed(string name, TimeSpan delay, bool honoursCancellation, params double[] values)
        => new(name, async (group, ct) =>
        {
            await Task.Delay(delay, honoursCancellation ? ct : CancellationToken.None).ConfigureAwait(false);
            return Signals(name, group, values);
        }, RewardSourceKind.Slow);

    /// <summary>As above, the delay measured on <paramref name="time"/> (a virtual-time kit's clock) and ended on the loop's thread.</summary>
    public static ScriptedRewardSource Delayed(string name, TimeSpan delay, bool honoursCancellation, TimeProvider time, params double[] values)
        => new(name, async (group, ct) =>
        {
            await Testing.VirtualTime.Delay(time, delay, honoursCancellation ? ct : CancellationToken.None).ConfigureAwait(false);
            return Signals(name, group, values);
        }, RewardSourceKind.Slow);

    /// <summary>Waits for the test to open the gate.</summary>
    public static ScriptedRewardSource Gated(string name, Task gate, params double[] values)
        => Gated(name, gate, RewardSourceKind.Fast, values);

    public static ScriptedRewardSource Gated(string name, Task gate, RewardSourceKind kind, params double[] values)
        => new(name, async (group, _) =>
        {
            await gate.ConfigureAwait(false);
            return Signals(name, group, values);
        }, kind);

    public static IReadOnlyList<RewardSignal> Signals(string name, RolloutGroup group, double[] values)
        => group.Rollouts.Select((_, i) => double.IsNaN(values[i])
                ? RewardSignal.Invalid(name, "scripted invalid", TimeSpan.FromMilliseconds(1))
                : RewardSignal.Ok(name, values[i], TimeSpan.FromMilliseconds(1)))
            .ToList();
}
