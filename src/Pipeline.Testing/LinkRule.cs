namespace Pipeline.Testing;

/// <summary>What a <see cref="FaultyLink"/> does with one message: pass it on now, drop it, or pass it on after a virtual delay.</summary>
public readonly record struct LinkDecision(bool Drop, TimeSpan Delay)
{
    public static readonly LinkDecision Forward = new(false, TimeSpan.Zero);
    public static readonly LinkDecision Dropped = new(true, TimeSpan.Zero);
    public static LinkDecision After(TimeSpan delay) => new(false, delay);
}

/// <summary>
/// Decides, message by message, what a <see cref="FaultyLink"/> does. Rules combine with <see cref="Or"/> (the first rule
/// that does not simply forward wins). Random rules draw from the link's seeded generator, so a seed replays the same faults.
/// </summary>
public sealed class LinkRule
{
    private readonly Func<object, Random, LinkDecision> _decide;

    public LinkRule(Func<object, Random, LinkDecision> decide) => _decide = decide ?? throw new ArgumentNullException(nameof(decide));

    /// <summary>Forwards everything (a link that only counts).</summary>
    public static LinkRule PassAll { get; } = new((_, _) => LinkDecision.Forward);

    /// <summary>Drops every <typeparamref name="T"/> (that satisfies <paramref name="when"/>).</summary>
    public static LinkRule Drop<T>(Func<T, bool>? when = null)
        => new((m, _) => m is T t && (when is null || when(t)) ? LinkDecision.Dropped : LinkDecision.Forward);

    /// <summary>Drops the first <paramref name="count"/> messages of type <typeparamref name="T"/>, then forwards them (a link that comes back).</summary>
    public static LinkRule DropFirst<T>(int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "a count of messages to drop cannot be negative");
        var seen = 0;
        return new((m, _) => m is T && seen++ < count ? LinkDecision.Dropped : LinkDecision.Forward);
    }

    /// <summary>Drops each message (of those <paramref name="when"/> picks) with probability <paramref name="fraction"/>, drawn from the link's seed.</summary>
    public static LinkRule DropFraction(double fraction, Func<object, bool>? when = null)
    {
        if (!(fraction is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "a drop fraction lies in [0, 1]");
        return new((m, rng) => (when is null || when(m)) && rng.NextDouble() < fraction ? LinkDecision.Dropped : LinkDecision.Forward);
    }

    /// <summary>Delays every <typeparamref name="T"/> (that satisfies <paramref name="when"/>) by <paramref name="by"/> of virtual time.</summary>
    public static LinkRule Delay<T>(TimeSpan by, Func<T, bool>? when = null)
    {
        if (by < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(by), by, "a delay cannot be negative");
        return new((m, _) => m is T t && (when is null || when(t)) ? LinkDecision.After(by) : LinkDecision.Forward);
    }

    /// <summary>Delays each message by a uniform draw in [<paramref name="min"/>, <paramref name="max"/>] (jitter; messages may overtake each other).</summary>
    public static LinkRule DelayBetween(TimeSpan min, TimeSpan max, Func<object, bool>? when = null)
    {
        if (min < TimeSpan.Zero || max < min)
            throw new ArgumentOutOfRangeException(nameof(max), $"a delay range needs 0 <= min <= max (got {min} .. {max})");
        return new((m, rng) => when is null || when(m)
            ? LinkDecision.After(min + TimeSpan.FromTicks((long)(rng.NextDouble() * (max - min).Ticks)))
            : LinkDecision.Forward);
    }

    /// <summary>This rule, and where it forwards, <paramref name="next"/>.</summary>
    public LinkRule Or(LinkRule next)
    {
        ArgumentNullException.ThrowIfNull(next);
        return new((m, rng) =>
        {
            var first = _decide(m, rng);  // decided once: a random or counting rule must not draw twice
            return first == LinkDecision.Forward ? next._decide(m, rng) : first;
        });
    }

    internal LinkDecision Decide(object message, Random rng) => _decide(message, rng);
}
