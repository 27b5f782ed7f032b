namespace Pipeline.Core.Rewards;

/// <summary>How one declared source takes part in the total reward.</summary>
public sealed record RewardSourceSpec(string Name, double Weight, bool Required, TimeSpan Deadline);

/// <summary>The scalar the learner sees for one rollout; <see cref="Valid"/> false means masked.</summary>
public sealed record ComposedReward(double Value, bool Valid, string? Reason);

/// <summary>
/// Weighted sum of the valid signals. A missing or invalid REQUIRED source makes the whole reward invalid
/// (masked in the advantage, never 0); a missing or invalid optional source is left out of the sum.
/// </summary>
public static class RewardComposition
{
    public static ComposedReward Compose(IReadOnlyList<RewardSignal> signals, IReadOnlyList<RewardSourceSpec> specs)
    {
        var total = 0.0;
        var any = false;
        foreach (var spec in specs)
        {
            RewardSignal? signal = null;
            foreach (var s in signals)
                if (s.Source == spec.Name) { signal = s; break; }

            if (signal is null || !signal.Valid)
            {
                if (spec.Required)
                    return new ComposedReward(double.NaN, false,
                        $"required source '{spec.Name}' {(signal is null ? "missing" : "invalid: " + signal.Details)}");
                continue;
            }
            total += spec.Weight * signal.Value;
            any = true;
        }
        return any
            ? new ComposedReward(total, true, null)
            : new ComposedReward(double.NaN, false, "no valid reward source");
    }
}
