namespace Pipeline.Core.Rewards;

/// <summary>
/// One source's verdict on one rollout. An invalid signal means "could not be computed";
/// it is masked downstream and must never be read as a zero reward.
/// </summary>
public sealed record RewardSignal(string Source, double Value, bool Valid, TimeSpan Latency, string? Details)
{
    public static RewardSignal Ok(string source, double value, TimeSpan latency, string? details = null)
        => double.IsFinite(value)
            ? new(source, value, true, latency, details)
            : Invalid(source, $"non-finite value {value}", latency);

    public static RewardSignal Invalid(string source, string reason, TimeSpan latency)
        => new(source, double.NaN, false, latency, reason);
}
