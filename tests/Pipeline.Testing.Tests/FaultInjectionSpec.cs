using System.Collections.Immutable;
using Akka.Actor;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Testing.Tests;

/// <summary>
/// The real replay buffer and annotation stage, built by <see cref="RoleBuilders"/> on the kit's clock, with a probe for a
/// generator and one for the learner, and faults injected into the critic and the links between them.
/// </summary>
public sealed class FaultInjectionSpec : VirtualTimeTestKit
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan CriticDeadline = TimeSpan.FromSeconds(5);
    private readonly string _runDir = Path.Combine(Path.GetTempPath(), "testkit-spec-" + Guid.NewGuid().ToString("N"));

    private static readonly PipelineSettings Settings = PipelineSettings.From(new ConfigLayers()
        .AddOverride("grpo.batch-groups=1").AddOverride("grpo.max-staleness=0").AddOverride("generation.generators=1"));

    /// <summary>Scores every rollout <paramref name="value"/> at once.</summary>
    private sealed class Constant(string name, double value, RewardSourceKind kind = RewardSourceKind.Fast) : IRewardSource
    {
        public string Name => name;
        public RewardSourceKind Kind => kind;
        public (double Min, double Max) Range => (0, 1);

        public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
            => Task.FromResult<IReadOnlyList<RewardSignal>>([.. group.Rollouts.Select(_ => RewardSignal.Ok(name, value, TimeSpan.Zero))]);
    }

    private static RolloutGroup Group(string id, int rollouts = 3)
    {
        var prompt = new Prompt("p-" + id, "How many users?", null, ImmutableDictionary<string, string>.Empty);
        return new RolloutGroup(id, prompt, 0,
            [.. Enumerable.Range(0, rollouts).Select(i => new Rollout($"{id}-{i}", id, prompt.Id, 0, [1, 2], [3, 4], [-0.5f, -0.5f], $"SELECT {i}", false))],
            TimeSpan.FromSeconds(1));
    }

    private (IActorRef Buffer, IActorRef Stage) Roles(IRewardSource critic, bool criticRequired = true)
    {
        var buffer = Sys.ActorOf(RoleBuilders.Buffer(Settings, _runDir, null, ActorRefs.Nobody, Clock), "buffer");
        var sources = new List<(IRewardSource, RewardSourceSpec)>
        {
            (new Constant("execution", 1.0), new RewardSourceSpec("execution", 1.0, Required: true, TimeSpan.FromSeconds(5))),
            (critic, new RewardSourceSpec(critic.Name, 0.5, criticRequired, CriticDeadline)),
        };
        var stage = Sys.ActorOf(RoleBuilders.AnnotationStage(Settings, sources, buffer, null, Clock), "annotation");
        Drain();
        return (buffer, stage);
    }

    /// <summary>The generator probe takes a credit and hands its group to <paramref name="stage"/>; the learner asks for a batch.</summary>
    private (VirtualProbe Generator, VirtualProbe Learner) OneGroup(IActorRef buffer, IActorRef stage)
    {
        var generator = CreateTestProbe("generator");
        var learner = CreateTestProbe("learner");
        generator.Send(buffer, new RequestCredit("generator"));
        var credit = generator.ExpectMsg<Credit>(Soon);
        stage.Tell(new GeneratedGroup(credit.CreditId, Group("g" + credit.CreditId), 0), generator.Ref);
        learner.Send(buffer, new RequestBatch(1, 1, 0));
        return (generator, learner);
    }

    [Theory]
    [InlineData(Garbage.NonFinite)]
    [InlineData(Garbage.OutOfRange)]
    [InlineData(Garbage.WrongCount)]
    [InlineData(Garbage.WrongLabel)]
    [InlineData(Garbage.Null)]
    public void A_critic_that_answers_garbage_gives_invalid_rewards_that_reach_the_learner_masked_never_zero(Garbage garbage)
    {
        var critic = FaultyRewardSource.Answering(new Constant("critic", 0.5), garbage);
        var (buffer, stage) = Roles(critic);

        var (_, learner) = OneGroup(buffer, stage);
        var batch = learner.ExpectMsg<TrainingBatch>(Soon);

        var rewards = batch.Groups.Single().Rewards;
        Assert.All(rewards, r =>
        {
            Assert.False(r.Valid);
            Assert.True(double.IsNaN(r.Reward));
            Assert.False(r.Signals.Single(s => s.Source == "critic").Valid);
            Assert.True(r.Signals.Single(s => s.Source == "execution").Valid);
        });
        Assert.Equal(1, critic.Faults);
        Assert.Equal(TimeSpan.Zero, Now);  // garbage comes back at once: no time passed
    }

    [Fact]
    public void A_slow_required_critic_is_cut_off_at_exactly_its_deadline_in_virtual_time()
    {
        var critic = FaultyRewardSource.Slow(new Constant("critic", 0.5), TimeSpan.FromMinutes(10), Time);
        var (buffer, stage) = Roles(critic);

        var (_, learner) = OneGroup(buffer, stage);
        learner.ExpectNoMsg(CriticDeadline - TimeSpan.FromMilliseconds(1));
        var batch = learner.ExpectMsg<TrainingBatch>(Soon);

        Assert.Equal(CriticDeadline, learner.LastReceived!.At);
        Assert.All(batch.Groups.Single().Rewards, r => Assert.Contains("deadline", r.Signals.Single(s => s.Source == "critic").Details));
        Assert.Equal(0, ForeignPosts);
    }

    [Fact]
    public void A_slow_optional_critic_never_holds_the_group()
    {
        // Slow in kind (a remote judge): an optional fast source would hold the group up to its deadline.
        var critic = FaultyRewardSource.Slow(new Constant("critic", 0.5, RewardSourceKind.Slow), TimeSpan.FromMinutes(10), Time, honoursCancellation: false);
        var (buffer, stage) = Roles(critic, criticRequired: false);

        var (_, learner) = OneGroup(buffer, stage);
        var batch = learner.ExpectMsg<TrainingBatch>(Soon);

        Assert.Equal(TimeSpan.Zero, learner.LastReceived!.At);
        Assert.All(batch.Groups.Single().Rewards, r =>
        {
            Assert.True(r.Valid);
            Assert.Contains("not ready", r.Signals.Single(s => s.Source == "critic").Details);
        });
    }

    [Fact]
    public void A_group_lost_between_the_stage_and_the_buffer_costs_its_credit_until_the_credit_times_out()
    {
        // The buffer's credit timeout (pipeline.timeouts.credit) frees the slot a lost group held; the learner waits until then.
        var buffer = Sys.ActorOf(RoleBuilders.Buffer(Settings, _runDir, null, ActorRefs.Nobody, Clock), "buffer");
        var lossy = Interpose(buffer, LinkRule.DropFirst<AnnotatedGroup>(1));
        var stage = Sys.ActorOf(RoleBuilders.AnnotationStage(Settings,
            [(new Constant("execution", 1.0), new RewardSourceSpec("execution", 1.0, Required: true, TimeSpan.FromSeconds(5)))], lossy.Ref, null, Clock));
        var generator = CreateTestProbe("generator");
        var learner = CreateTestProbe("learner");

        generator.Send(buffer, new RequestCredit("generator"));
        var lost = generator.ExpectMsg<Credit>(Soon);
        stage.Tell(new GeneratedGroup(lost.CreditId, Group("lost"), 0));
        learner.Send(buffer, new RequestBatch(1, 1, 0));
        generator.Send(buffer, new RequestCredit("generator"));

        var timeout = Settings.Timeouts.Credit;
        generator.ExpectNoMsg(timeout - TimeSpan.FromSeconds(1));  // B = 1, eta = 0: the lost group's credit is the only one
        var next = generator.ExpectMsg<Credit>(TimeSpan.FromSeconds(2));  // the 1 s expiry tick after the timeout
        stage.Tell(new GeneratedGroup(next.CreditId, Group("kept"), 0));
        var batch = learner.ExpectMsg<TrainingBatch>(Soon);

        Assert.Equal("kept", batch.Groups.Single().Group.GroupId);
        Assert.Equal(1, batch.Stats.CreditsExpired);
        Assert.Equal(1, lossy.DroppedCount);
        Assert.InRange(Now, timeout, timeout + TimeSpan.FromSeconds(1));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && Directory.Exists(_runDir)) Directory.Delete(_runDir, recursive: true);
    }
}
