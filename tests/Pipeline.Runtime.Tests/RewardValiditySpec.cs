using System.Collections.Immutable;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Tests;

/// <summary>The learner's ledger of invalid rewards: the masked share of the run, and the stop rule for a required source that is down.</summary>
public class RewardValiditySpec
{
    // execution (required) and critic (required here), with the critic's base-url pointing nowhere in particular.
    private static PipelineSettings Settings(int maxInvalidSteps)
    {
        var layers = new ConfigLayers()
            .AddOverride("rewards=execution,critic")
            .AddOverride("rewards.sources.critic.required=on")
            .AddOverride("rewards.critic.base-url=\"http://127.0.0.1:9/v1\"")
            .AddOverride($"rewards.max-invalid-steps={maxInvalidSteps}");
        return PipelineSettings.From(layers);
    }

    /// <summary>One step's batch: two groups of three rollouts; the critic's signals valid or failed with <paramref name="criticFailure"/>.</summary>
    private static List<AnnotatedGroup> Step(string? criticFailure, bool rubricOptionalInvalid = false)
    {
        AnnotatedGroup Group(long id)
        {
            var group = RolloutGroups.Build($"g{id}", 0);
            var rewards = Enumerable.Range(0, 3).Select(_ =>
            {
                var exec = RewardSignal.Ok("execution", 1.0, TimeSpan.Zero);
                var critic = criticFailure is null ? RewardSignal.Ok("critic", 0.5, TimeSpan.Zero) : RewardSignal.Invalid("critic", criticFailure, TimeSpan.Zero);
                return new RolloutRewards([exec, critic], criticFailure is null ? 1.5 : double.NaN, criticFailure is null, criticFailure);
            }).ToImmutableArray();
            return new AnnotatedGroup(id, group, rewards, TimeSpan.Zero, id);
        }
        return [Group(1), Group(2)];
    }

    [Fact]
    public void A_required_source_invalid_in_every_rollout_for_max_invalid_steps_stops_the_run_naming_it_and_its_failures()
    {
        var ledger = new RewardValidity(Settings(3));

        Assert.Null(ledger.Observe(Step("critic transport: Connection refused (127.0.0.1:9)"), 0));
        Assert.Null(ledger.Observe(Step("critic timeout: no answer within 30s"), 0));
        var reason = ledger.Observe(Step("critic transport: Connection refused (127.0.0.1:9)"), 0);

        Assert.NotNull(reason);
        Assert.Contains("required reward source 'critic' was invalid in every rollout for 3 consecutive steps", reason);
        Assert.Contains("critic transport 12", reason);
        Assert.Contains("critic timeout 6", reason);
        Assert.Contains("pipeline.rewards.critic.base-url = http://127.0.0.1:9/v1", reason);
        Assert.DoesNotContain("'execution'", reason);
    }

    [Fact]
    public void One_step_with_a_valid_signal_starts_the_count_again()
    {
        var ledger = new RewardValidity(Settings(3));
        Assert.Null(ledger.Observe(Step("critic transport: refused"), 0));
        Assert.Null(ledger.Observe(Step("critic transport: refused"), 0));
        Assert.Null(ledger.Observe(Step(null), 6));
        Assert.Null(ledger.Observe(Step("critic transport: refused"), 0));
        Assert.Null(ledger.Observe(Step("critic transport: refused"), 0));
        Assert.NotNull(ledger.Observe(Step("critic transport: refused"), 0));
    }

    [Fact]
    public void With_max_invalid_steps_0_the_run_is_never_stopped_but_the_masked_share_is_still_counted()
    {
        var ledger = new RewardValidity(Settings(0));
        for (var i = 0; i < 50; i++) Assert.Null(ledger.Observe(Step("critic transport: refused"), 0));

        var m = ledger.Summary();
        Assert.Equal(50, m.Steps);
        Assert.Equal(300, m.Rollouts);
        Assert.Equal(1.0, m.MaskedFrac);
        Assert.Equal(50, m.EmptySteps);
        Assert.Equal(1.0, m.InvalidFrac["critic"]);
        Assert.Equal(0.0, m.InvalidFrac["execution"]);
    }

    [Fact]
    public void The_run_totals_reach_the_metrics_and_the_summary_line()
    {
        var ledger = new RewardValidity(Settings(20));
        ledger.Observe(Step(null), 6);
        ledger.Observe(Step("critic parse: prose without JSON"), 0);
        ledger.Observe(Step(null), 6);
        ledger.Observe(Step(null), 6);

        var data = new Dictionary<string, double>();
        ledger.AddMetrics(data);
        Assert.Equal(24, data["total/rollouts"]);
        Assert.Equal(6, data["total/masked"]);
        Assert.Equal(0.25, data["total/masked_frac"]);
        Assert.Equal(1, data["total/empty_steps"]);
        Assert.Equal(0.25, data["total/invalid_frac/critic"]);
        Assert.Equal(0, data["reward/critic/invalid_streak"]);
        Assert.Contains("masked 25.0 % of 24 rollouts over 4 steps", ledger.Summary().Describe());
        Assert.Contains("critic 25.0 %", ledger.Summary().Describe());
    }
}
