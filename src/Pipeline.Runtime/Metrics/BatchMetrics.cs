using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Metrics;

/// <summary>Reward, staleness and timing statistics of one training batch, named as in veRL and OpenRLHF.</summary>
public static class BatchMetrics
{
    /// <summary>The buffer's and admission's counters as the served batch carries them, under their metric names.</summary>
    public static void AddBufferStats(IDictionary<string, double> data, BufferStats stats)
    {
        data["buffer/depth"] = stats.Depth;
        data["buffer/dropped_stale"] = stats.DroppedStale;
        data["buffer/dropped_late"] = stats.DroppedLate;
        data["buffer/dropped_uninformative"] = stats.DroppedUninformative;
        data["admission/capacity"] = stats.Capacity;
        data["admission/running"] = stats.Running;
        data["admission/credits_expired"] = stats.CreditsExpired;
        data["admission/credits_released"] = stats.CreditsReleased;
    }

    public static Dictionary<string, double> Compute(IReadOnlyList<AnnotatedGroup> groups, long learnerVersion)
    {
        var data = new Dictionary<string, double>();
        var valid = groups.SelectMany(g => g.Rewards).Where(r => r.Valid).Select(r => r.Reward).ToList();
        var all = groups.SelectMany(g => g.Rewards).ToList();
        data["reward/mean"] = valid.Count > 0 ? valid.Average() : double.NaN;
        data["reward/std"] = Std(valid);
        data["reward/invalid_frac"] = all.Count > 0 ? all.Count(r => !r.Valid) / (double)all.Count : 0;
        data["rollouts/count"] = all.Count;
        data["rollouts/masked"] = all.Count(r => !r.Valid);

        foreach (var source in all.SelectMany(r => r.Signals).Select(s => s.Source).Distinct())
        {
            var signals = all.SelectMany(r => r.Signals).Where(s => s.Source == source).ToList();
            var ok = signals.Where(s => s.Valid).ToList();
            data[$"reward/{source}/mean"] = ok.Count > 0 ? ok.Average(s => s.Value) : double.NaN;
            data[$"reward/{source}/invalid_frac"] = signals.Count(s => !s.Valid) / (double)signals.Count;
            data[$"reward/{source}/invalid_count"] = signals.Count(s => !s.Valid);
            data[$"reward/{source}/latency_ms"] = signals.Average(s => s.Latency.TotalMilliseconds);
        }

        var zeroStd = groups.Count(g => !g.HasSignal());
        data["frac_reward_zero_std"] = groups.Count > 0 ? zeroStd / (double)groups.Count : 0;

        var staleness = groups.Select(g => (double)(learnerVersion - g.Group.PolicyVersion)).ToList();
        data["staleness/mean"] = staleness.Count > 0 ? staleness.Average() : 0;
        data["staleness/max"] = staleness.Count > 0 ? staleness.Max() : 0;

        var rollouts = groups.SelectMany(g => g.Group.Rollouts).ToList();
        data["response_length/mean"] = rollouts.Count > 0 ? rollouts.Average(r => r.CompletionTokens.Length) : 0;
        data["response/truncated_frac"] = rollouts.Count > 0 ? rollouts.Count(r => r.Truncated) / (double)rollouts.Count : 0;
        data["timing_s/gen"] = groups.Count > 0 ? groups.Average(g => g.Group.GenerationTime.TotalSeconds) : 0;
        data["timing_s/gen_total"] = groups.Sum(g => g.Group.GenerationTime.TotalSeconds);
        data["timing_s/reward"] = groups.Count > 0 ? groups.Average(g => g.AnnotationTime.TotalSeconds) : 0;
        data["prompt_length/mean"] = rollouts.Count > 0 ? rollouts.Average(r => r.PromptTokens.Length) : 0;
        data["response_length/std"] = Std(rollouts.Select(r => (double)r.CompletionTokens.Length).ToList());
        // Per-group sums that add up over steps: `simulate --calibrate-from` fits gen time = a + b * group tokens on every group.
        data["generation/groups"] = groups.Count;
        data["generation/group_tokens_sum"] = groups.Sum(g => (double)g.Group.TokenCount);
        data["generation/group_tokens_sq_sum"] = groups.Sum(g => (double)g.Group.TokenCount * g.Group.TokenCount);
        data["generation/group_tokens_x_time_sum"] = groups.Sum(g => g.Group.TokenCount * g.Group.GenerationTime.TotalSeconds);
        return data;
    }

    private static double Std(IReadOnlyList<double> xs)
    {
        if (xs.Count < 2) return 0;
        var mean = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
    }
}
