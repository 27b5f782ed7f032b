using System.Collections.Immutable;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;
using static Pipeline.Runtime.Tests.RolloutGroups;

namespace Pipeline.Runtime.Tests;

public class BatchMetricsSpec
{
    private static readonly TimeSpan Ten = TimeSpan.FromMilliseconds(10);
    private const double Nan = double.NaN;

    /// <summary>One rollout: the composed reward (NaN: masked) and the exec and rubric signals (NaN: invalid).</summary>
    private static RolloutRewards Rollout(double reward, double exec, double rubric)
        => new([Sig("exec", exec), Sig("rubric", rubric)], reward, !double.IsNaN(reward), double.IsNaN(reward) ? "masked" : null);

    private static RewardSignal Sig(string source, double value)
        => double.IsNaN(value) ? RewardSignal.Invalid(source, "scripted", Ten) : RewardSignal.Ok(source, value, Ten);

    private static AnnotatedGroup Group(string id, long policyVersion, int[] lengths, bool[] truncated, double genSeconds, double rewardSeconds,
        params RolloutRewards[] rewards)
        => new(0, Build(id, policyVersion, rewards.Length, completionLengths: lengths, truncated: truncated,
                generationTime: TimeSpan.FromSeconds(genSeconds)),
            [.. rewards], TimeSpan.FromSeconds(rewardSeconds), 0);

    // Learner at version 5. Valid rewards: 1.0, 0.0 | 0.5, 0.5 | 0.7  -> mean 0.54, unbiased std sqrt(0.532 / 4).
    private static readonly IReadOnlyList<AnnotatedGroup> Batch =
    [
        Group("a", policyVersion: 3, lengths: [3, 4, 5], truncated: [false, false, true], genSeconds: 1, rewardSeconds: 0.5,
            Rollout(1.0, exec: 1.0, rubric: 0.4),
            Rollout(0.0, exec: 0.0, rubric: 0.6),
            Rollout(Nan, exec: Nan, rubric: 0.2)),
        Group("b", policyVersion: 4, lengths: [2, 2], truncated: [false, false], genSeconds: 2, rewardSeconds: 0.5,
            Rollout(0.5, exec: 0.5, rubric: Nan),
            Rollout(0.5, exec: 0.5, rubric: 0.9)),          // all valid rewards equal: zero std
        Group("c", policyVersion: 5, lengths: [6, 0], truncated: [false, false], genSeconds: 3, rewardSeconds: 0.2,
            Rollout(0.7, exec: 0.7, rubric: 0.3),
            Rollout(Nan, exec: Nan, rubric: 0.1)),          // one valid reward: zero std
    ];

    [Fact]
    public void Reward_mean_and_std_must_use_valid_rewards_only()
    {
        var m = BatchMetrics.Compute(Batch, learnerVersion: 5);

        Assert.Equal(0.54, m["reward/mean"], 12);
        Assert.Equal(Math.Sqrt(0.532 / 4), m["reward/std"], 12);
        Assert.Equal(2.0 / 7, m["reward/invalid_frac"], 12);
    }

    [Fact]
    public void Per_source_means_must_use_that_source_s_valid_signals_only()
    {
        var m = BatchMetrics.Compute(Batch, learnerVersion: 5);

        Assert.Equal(2.7 / 5, m["reward/exec/mean"], 12);
        Assert.Equal(2.0 / 7, m["reward/exec/invalid_frac"], 12);
        Assert.Equal(2.5 / 6, m["reward/rubric/mean"], 12);
        Assert.Equal(1.0 / 7, m["reward/rubric/invalid_frac"], 12);
        Assert.Equal(10.0, m["reward/exec/latency_ms"], 9);
    }

    [Fact]
    public void Frac_reward_zero_std_must_count_groups_with_at_most_one_distinct_valid_reward()
    {
        var m = BatchMetrics.Compute(Batch, learnerVersion: 5);

        Assert.Equal(2.0 / 3, m["frac_reward_zero_std"], 12);
    }

    [Fact]
    public void Staleness_must_be_the_learner_version_minus_each_group_s_policy_version()
    {
        var m = BatchMetrics.Compute(Batch, learnerVersion: 5);

        Assert.Equal(1.0, m["staleness/mean"], 12); // (2 + 1 + 0) / 3
        Assert.Equal(2.0, m["staleness/max"], 12);
    }

    [Fact]
    public void Length_truncation_and_timing_must_average_over_the_batch()
    {
        var m = BatchMetrics.Compute(Batch, learnerVersion: 5);

        Assert.Equal(22.0 / 7, m["response_length/mean"], 12);
        Assert.Equal(1.0 / 7, m["response/truncated_frac"], 12);
        Assert.Equal(2.0, m["timing_s/gen"], 12);
        Assert.Equal(0.4, m["timing_s/reward"], 12);
    }

    [Fact]
    public void Per_group_generation_sums_must_let_a_fit_pool_every_group_of_the_batch()
    {
        var m = BatchMetrics.Compute(Batch, learnerVersion: 5);

        // Group tokens 12, 4, 6 in 1, 2, 3 s; every prompt has 3 tokens; lengths 3,4,5,2,2,6,0 (mean 22/7).
        Assert.Equal(3.0, m["generation/groups"], 12);
        Assert.Equal(22.0, m["generation/group_tokens_sum"], 12);
        Assert.Equal(196.0, m["generation/group_tokens_sq_sum"], 12);
        Assert.Equal(38.0, m["generation/group_tokens_x_time_sum"], 12);
        Assert.Equal(3.0, m["prompt_length/mean"], 12);
        var lengths = new double[] { 3, 4, 5, 2, 2, 6, 0 };
        var mean = lengths.Average();
        Assert.Equal(Math.Sqrt(lengths.Sum(x => (x - mean) * (x - mean)) / 6), m["response_length/std"], 12);
    }

    [Fact]
    public void A_batch_without_valid_rewards_must_report_NaN_not_zero()
    {
        var batch = new[]
        {
            Group("x", 0, [1, 1], [false, false], 1, 1, Rollout(Nan, Nan, Nan), Rollout(Nan, Nan, Nan)),
        };

        var m = BatchMetrics.Compute(batch, learnerVersion: 0);

        Assert.True(double.IsNaN(m["reward/mean"]));
        Assert.True(double.IsNaN(m["reward/exec/mean"]));
        Assert.Equal(1.0, m["reward/invalid_frac"]);
        Assert.Equal(1.0, m["frac_reward_zero_std"]);
    }
}
