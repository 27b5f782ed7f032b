namespace Pipeline.Core.Rewards;

/// <summary>
/// One source's verdict on one rollout. An invalid signal means "could not be computed";
/// it is masked downstream and must never be read as a zero reward.
/// </summary>
public sealed record RewardSignal(string Source, double Value, bool Valid, TimeSpan Latency, string? Details)
{
    /// <summary>
    /// Optional dense feedback (DRLC-style): spans of the completion text the source marked, each with a reward.
    /// The learner may turn them into token-level rewards; sources that only judge the whole completion leave it null.
    /// </summary>
    public IReadOnlyList<SpanReward>? Spans { get; init; }

    public static RewardSignal Ok(string source, double value, TimeSpan latency, string? details = null)
        => double.IsFinite(value)
            ? new(source, value, true, latency, details)
            : Invalid(source, $"non-finite value {value}", latency);

    public static RewardSignal Invalid(string source, string reason, TimeSpan latency)
        => new(source, double.NaN, false, latency, reason);
}

/// <summary>A marked span of the completion text: characters [Start, Start + Length) earn <see cref="Value"/>.</summary>
public sealed record SpanReward(int Start, int Length, double Value, string? Note = null);
