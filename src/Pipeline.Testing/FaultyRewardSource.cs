using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Testing;

/// <summary>How a garbage-answering source breaks its contract (each one the annotation stage must turn into invalid signals, never 0).</summary>
public enum Garbage
{
    /// <summary>Valid signals with a NaN value.</summary>
    NonFinite,
    /// <summary>Valid signals above the source's declared range.</summary>
    OutOfRange,
    /// <summary>One signal fewer than the group has rollouts.</summary>
    WrongCount,
    /// <summary>Signals labelled with another source's name.</summary>
    WrongLabel,
    /// <summary>A null list instead of signals.</summary>
    Null,
}

/// <summary>
/// A reward source with an injected fault, wrapping a real or scripted one: slow (answers after a latency on the given
/// clock, the kit's virtual one in a spec), hanging, failing, flaky (a seeded fraction of calls fail) or answering garbage.
/// Name, kind and range are the inner source's, so it takes the inner source's place in a stage's source list.
/// </summary>
public sealed class FaultyRewardSource : IRewardSource
{
    private readonly IRewardSource _inner;
    private readonly Func<RolloutGroup, CancellationToken, Task<IReadOnlyList<RewardSignal>>> _score;

    private FaultyRewardSource(IRewardSource inner, Func<FaultyRewardSource, RolloutGroup, CancellationToken, Task<IReadOnlyList<RewardSignal>>> score)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _score = (g, ct) => score(this, g, ct);
    }

    public string Name => _inner.Name;
    public RewardSourceKind Kind => _inner.Kind;
    public (double Min, double Max) Range => _inner.Range;

    /// <summary>Calls made to this source (the faulty ones included).</summary>
    public long Calls { get; private set; }

    /// <summary>Calls whose answer the fault replaced or withheld.</summary>
    public long Faults { get; private set; }

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        Calls++;
        return _score(group, cancellationToken);
    }

    /// <summary>
    /// Answers as <paramref name="inner"/> does, <paramref name="latency"/> of <paramref name="time"/> later (a slow critic).
    /// Without <paramref name="honoursCancellation"/> it keeps going after the stage gave up, as a stuck remote judge does.
    /// </summary>
    public static FaultyRewardSource Slow(IRewardSource inner, TimeSpan latency, TimeProvider time, bool honoursCancellation = true)
    {
        if (latency < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(latency), latency, "a latency cannot be negative");
        ArgumentNullException.ThrowIfNull(time);
        return new(inner, async (self, group, ct) =>
        {
            await VirtualTime.Delay(time, latency, honoursCancellation ? ct : CancellationToken.None).ConfigureAwait(false);
            return await inner.ScoreAsync(group, ct).ConfigureAwait(false);
        });
    }

    /// <summary>Never answers; with <paramref name="honoursCancellation"/> its call ends (cancelled) when the stage cancels it.</summary>
    public static FaultyRewardSource Hanging(IRewardSource inner, bool honoursCancellation = true)
        => new(inner, (self, _, ct) =>
        {
            self.Faults++;
            var never = new TaskCompletionSource<IReadOnlyList<RewardSignal>>();
            if (honoursCancellation) ct.Register(() => never.TrySetCanceled(ct));
            return never.Task;
        });

    /// <summary>Every call fails with <paramref name="message"/> (a faulted task, as a failed HTTP call gives).</summary>
    public static FaultyRewardSource Failing(IRewardSource inner, string message = "injected failure")
        => new(inner, (self, _, _) =>
        {
            self.Faults++;
            return Task.FromException<IReadOnlyList<RewardSignal>>(new InvalidOperationException(message));
        });

    /// <summary>Each call fails with probability <paramref name="fraction"/> (drawn from <paramref name="seed"/>), else answers as <paramref name="inner"/>.</summary>
    public static FaultyRewardSource Flaky(IRewardSource inner, double fraction, int seed, string message = "injected failure")
    {
        if (!(fraction is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "a failure fraction lies in [0, 1]");
        var rng = new Random(seed);
        return new(inner, (self, group, ct) =>
        {
            if (rng.NextDouble() >= fraction) return inner.ScoreAsync(group, ct);
            self.Faults++;
            return Task.FromException<IReadOnlyList<RewardSignal>>(new InvalidOperationException(message));
        });
    }

    /// <summary>Answers every call with garbage of the given <paramref name="kind"/> (a critic that answers nonsense).</summary>
    public static FaultyRewardSource Answering(IRewardSource inner, Garbage kind)
        => new(inner, (self, group, _) =>
        {
            self.Faults++;
            var n = group.Rollouts.Length;
            IReadOnlyList<RewardSignal> signals = kind switch
            {
                Garbage.NonFinite => Enumerable.Range(0, n).Select(_ => new RewardSignal(inner.Name, double.NaN, true, TimeSpan.Zero, null)).ToList(),
                Garbage.OutOfRange => Enumerable.Range(0, n).Select(_ => RewardSignal.Ok(inner.Name, inner.Range.Max + 1, TimeSpan.Zero)).ToList(),
                Garbage.WrongCount => Enumerable.Range(0, Math.Max(0, n - 1)).Select(_ => RewardSignal.Ok(inner.Name, inner.Range.Min, TimeSpan.Zero)).ToList(),
                Garbage.WrongLabel => Enumerable.Range(0, n).Select(_ => RewardSignal.Ok(inner.Name + "-impostor", inner.Range.Min, TimeSpan.Zero)).ToList(),
                Garbage.Null => null!,
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no such garbage"),
            };
            return Task.FromResult(signals);
        });
}
