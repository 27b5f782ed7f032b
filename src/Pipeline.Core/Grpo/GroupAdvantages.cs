namespace Pipeline.Core.Grpo;

/// <summary>
/// GRPO's group-relative advantage: A_i = (r_i - mean(r)) / (std(r) + eps) over the VALID rewards of one group.
/// Invalid rewards are masked (advantage 0, excluded from the statistics); a group with at most one valid reward,
/// or whose valid rewards are all equal, carries no signal and gets zero advantage everywhere.
/// std is the unbiased (n-1) estimator, as torch.std in TRL and veRL.
/// </summary>
public static class GroupAdvantages
{
    /// <summary>False when the group can carry no gradient: at most one valid reward, or all valid rewards equal.</summary>
    public static bool HasSignal(IReadOnlyList<double> rewards, IReadOnlyList<bool> valid)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        ArgumentNullException.ThrowIfNull(valid);
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        var n = 0;
        for (var i = 0; i < rewards.Count; i++)
        {
            if (!valid[i]) continue;
            n++;
            min = Math.Min(min, rewards[i]);
            max = Math.Max(max, rewards[i]);
        }
        return n > 1 && max - min >= 1e-12;
    }

    public static double[] Compute(IReadOnlyList<double> rewards, IReadOnlyList<bool> valid, bool scaleByStd = true, double epsilon = 1e-6)
    {
        if (rewards.Count != valid.Count)
            throw new ArgumentException($"rewards ({rewards.Count}) and valid ({valid.Count}) differ in length");

        var advantages = new double[rewards.Count];
        var n = 0;
        var sum = 0.0;
        for (var i = 0; i < rewards.Count; i++)
        {
            if (!valid[i]) continue;
            if (!double.IsFinite(rewards[i]))
                throw new ArgumentException($"reward {i} is marked valid but is {rewards[i]}");
            n++;
            sum += rewards[i];
        }
        if (n <= 1) return advantages;

        var mean = sum / n;
        var sq = 0.0;
        for (var i = 0; i < rewards.Count; i++)
            if (valid[i]) sq += (rewards[i] - mean) * (rewards[i] - mean);
        var std = Math.Sqrt(sq / (n - 1));
        if (std < 1e-12) return advantages;

        for (var i = 0; i < rewards.Count; i++)
            if (valid[i])
                advantages[i] = scaleByStd ? (rewards[i] - mean) / (std + epsilon) : rewards[i] - mean;
        return advantages;
    }
}
