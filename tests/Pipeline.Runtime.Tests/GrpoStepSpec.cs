using System.Collections.Immutable;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Tests;

/// <summary>
/// One GRPO step on a tiny policy and hand-built groups: what reaches the trainer (fresh groups, valid rewards, complete
/// answers), what the step counts, and the metrics row it writes.
/// </summary>
public class GrpoStepSpec
{
    private static readonly PolicyFactory Policy = PolicyFactory.Builtin(new PolicySettings(0, DModel: 16, Layers: 1, Heads: 2, Context: 32), 40);
    private static readonly BufferStats Stats = new(Depth: 3, Accepted: 10, DroppedStale: 1, DroppedLate: 0, CreditsExpired: 0, CreditsReleased: 2, Capacity: 8, Running: 1);

    private static PipelineSettings Settings() => PipelineSettings.From(new ConfigLayers()
        .AddOverride("grpo.max-staleness=1")
        .AddOverride("grpo.overlong-filter=on")
        .AddOverride("rewards=execution"));

    /// <summary>A group sampled at <paramref name="policyVersion"/>; a null reward is a masked (invalid) one.</summary>
    private static AnnotatedGroup Group(long id, long policyVersion, double?[] rewards, bool[]? truncated = null, long cursor = 0)
    {
        var group = RolloutGroups.Build($"g{id}", policyVersion, rewards.Length, truncated: truncated);
        var annotated = rewards.Select(r => r is { } v
                ? new RolloutRewards([RewardSignal.Ok("execution", v, TimeSpan.Zero)], v, true, null)
                : new RolloutRewards([RewardSignal.Invalid("execution", "timeout", TimeSpan.Zero)], double.NaN, false, "timeout"))
            .ToImmutableArray();
        return new AnnotatedGroup(id, group, annotated, TimeSpan.Zero, cursor == 0 ? id : cursor);
    }

    private static (GrpoStep.Outcome Outcome, List<long> Announced) RunOne(params AnnotatedGroup[] groups)
    {
        var settings = Settings();
        using var policy = Policy.Create(settings.Seed);
        var reference = WeightTransfer.Export(policy, 0);
        // No signal here marks spans, so the tokenizer (used only for dense bonuses) is never called.
        using var step = new GrpoStep(settings, Policy, policy, reference, null!, [], NoLogger.Instance);
        using var live = new LiveWeights(policy);
        var announced = new List<long>();
        var outcome = step.Run(new TrainingBatch(1, [.. groups], Stats), new TrainingPosition(Step: 7, Version: 5, DataCursor: 3), 0.25, live,
            v => announced.Add(v.Version));
        return (outcome, announced);
    }

    [Fact]
    public void A_step_trains_only_on_fresh_valid_complete_rollouts_and_counts_what_it_left_out()
    {
        var (outcome, announced) = RunOne(
            Group(1, 5, [1.0, 0.0, null]),                                  // 2 valid
            Group(2, 2, [1.0, 0.0, 1.0], cursor: 99),                       // staleness 3 > 1: the assertion skips it
            Group(3, 4, [1.0, 0.0, 1.0], truncated: [true, false, false])); // 1 cut off

        var row = outcome.Metrics;
        Assert.Equal(4, row["learner/samples"]);
        Assert.Equal(1, row["learner/dropped_stale"]);
        Assert.Equal(1, row["response/overlong_filtered"]);
        Assert.Equal(6, row["rollouts/count"]);   // the skipped group is not in the batch's statistics
        Assert.Equal(1, row["rollouts/masked"]);
        Assert.True(row.ContainsKey("actor/loss"), "a step with samples took no optimizer step");
        Assert.Equal(new TrainingPosition(8, 6, 3), outcome.Position);  // the stale group's cursor 99 does not count
        Assert.Equal([6L], announced);
        Assert.Null(outcome.Failure);
    }

    [Fact]
    public void A_step_whose_every_rollout_is_masked_takes_no_optimizer_step_and_still_advances_the_version()
    {
        var (outcome, announced) = RunOne(Group(1, 5, [null, null, null]));

        Assert.Equal(0, outcome.Metrics["learner/samples"]);
        Assert.False(outcome.Metrics.ContainsKey("actor/loss"));
        Assert.Equal(1, outcome.Metrics["total/empty_steps"]);
        Assert.Equal(6, outcome.Metrics["policy/version"]);
        Assert.Equal([6L], announced);
    }

    [Fact]
    public void The_metrics_row_keeps_the_names_metrics_jsonl_has_always_had()
    {
        var (outcome, _) = RunOne(Group(1, 5, [1.0, 0.0]));

        string[] names =
        [
            "reward/mean", "reward/std", "reward/invalid_frac", "rollouts/count", "rollouts/masked", "reward/execution/mean",
            "frac_reward_zero_std", "staleness/mean", "staleness/max", "response_length/mean", "response/truncated_frac",
            "timing_s/gen", "timing_s/gen_total", "timing_s/reward", "total/rollouts", "total/masked", "total/masked_frac",
            "total/empty_steps", "timing_s/wait", "timing_s/update", "timing_s/sync", "timing_s/step", "throughput/rollouts_per_s",
            "throughput/tokens_per_s", "policy/version", "learner/dropped_stale", "learner/samples", "buffer/depth",
            "buffer/dropped_stale", "buffer/dropped_late", "buffer/dropped_uninformative", "admission/capacity", "admission/running",
            "admission/credits_expired", "admission/credits_released", "actor/loss", "actor/pg_loss", "actor/kl", "actor/pg_clipfrac",
            "actor/entropy", "actor/grad_norm", "is_ratio/mean", "is_ratio/max", "mismatch_kl", "actor/tokens", "actor/skipped_steps",
            "actor/lr", "response/overlong_filtered", "reward/dense_tokens",
        ];
        var missing = names.Where(n => !outcome.Metrics.ContainsKey(n)).ToList();
        Assert.Empty(missing);
        Assert.Equal(0.25, outcome.Metrics["timing_s/wait"]);
        Assert.Equal(3, outcome.Metrics["buffer/depth"]);
    }
}
