using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Pipeline.Testing;
using static Pipeline.Runtime.Tests.RolloutGroups;

namespace Pipeline.Runtime.Tests;

/// <summary>
/// The stage on virtual time, its sources called inline (the simulation's <see cref="Hosting.RunClock"/>): deadlines and
/// latencies are exact instants, not wall-clock margins. The thread-pool path stays in <see cref="AnnotationStageWallClockSpec"/>.
/// </summary>
public class AnnotationStageSpec : VirtualTimeTestKit
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(1);

    private static (IRewardSource, RewardSourceSpec) Required(IRewardSource source, double weight = 1.0, TimeSpan? deadline = null)
        => (source, new RewardSourceSpec(source.Name, weight, Required: true, deadline ?? TimeSpan.FromSeconds(5)));

    private static (IRewardSource, RewardSourceSpec) Optional(IRewardSource source, double weight = 1.0, TimeSpan? deadline = null)
        => (source, new RewardSourceSpec(source.Name, weight, Required: false, deadline ?? TimeSpan.FromSeconds(5)));

    private (IActorRef Stage, VirtualProbe Buffer) Stage(int maxInFlight = 4, params (IRewardSource, RewardSourceSpec)[] sources)
    {
        var buffer = CreateTestProbe();
        return (Sys.ActorOf(AnnotationStage.Props(sources, buffer.Ref, maxInFlight, clock: Clock)), buffer);
    }

    private static RewardSignal Signal(AnnotatedGroup group, int rollout, string source)
        => group.Rewards[rollout].Signals.Single(s => s.Source == source);

    [Fact]
    public void Stage_must_compose_the_signals_of_several_sources_by_their_weights()
    {
        var (stage, buffer) = Stage(4,
            Required(ScriptedRewardSource.Values("exec", 1.0, 0.0, 0.5), weight: 0.7),
            Required(ScriptedRewardSource.Values("rubric", 0.2, 0.4, 1.0), weight: 0.3));

        stage.Tell(new GeneratedGroup(41, Build("g41", policyVersion: 3), PromptCursor: 17));

        var annotated = buffer.ExpectMsg<AnnotatedGroup>(Soon);
        Assert.Equal(41, annotated.CreditId);
        Assert.Equal(17, annotated.PromptCursor);
        Assert.Equal("g41", annotated.Group.GroupId);
        Assert.Equal([0.7 * 1.0 + 0.3 * 0.2, 0.7 * 0.0 + 0.3 * 0.4, 0.7 * 0.5 + 0.3 * 1.0],
            annotated.Rewards.Select(r => r.Reward), new ToleranceComparer(1e-12));
        Assert.All(annotated.Rewards, r =>
        {
            Assert.True(r.Valid);
            Assert.Null(r.InvalidReason);
            Assert.Equal(["exec", "rubric"], r.Signals.Select(s => s.Source));
        });
    }

    [Fact]
    public void Stage_must_make_a_rollout_invalid_when_a_required_source_is_invalid_never_zero()
    {
        var (stage, buffer) = Stage(4,
            Required(ScriptedRewardSource.Values("exec", 1.0, double.NaN, 0.0), weight: 0.7),
            Required(ScriptedRewardSource.Values("rubric", 0.5, 0.5, 0.5), weight: 0.3));

        stage.Tell(Generated(1));

        var annotated = buffer.ExpectMsg<AnnotatedGroup>(Soon);
        var masked = annotated.Rewards[1];
        Assert.False(masked.Valid);
        Assert.True(double.IsNaN(masked.Reward));
        Assert.Contains("exec", masked.InvalidReason);
        Assert.True(annotated.Rewards[0].Valid);
        Assert.True(annotated.Rewards[2].Valid);
        Assert.Equal(0.15, annotated.Rewards[2].Reward, 12); // a real zero from exec stays a valid reward
    }

    [Fact]
    public void Stage_must_leave_an_invalid_optional_source_out_of_the_sum()
    {
        // The optional source answers first (the required one waits for it, then a little longer), so what is
        // tested is the composition, not which source wins a race on a loaded machine.
        var judgeAnswered = new TaskCompletionSource();  // continuations on the loop's thread (no thread pool in virtual time)
        var judge = new ScriptedRewardSource("judge", (group, _) =>
        {
            var signals = ScriptedRewardSource.Signals("judge", group, [double.NaN, 0.5, double.NaN]);
            judgeAnswered.TrySetResult();
            return Task.FromResult(signals);
        });
        var exec = new ScriptedRewardSource("exec", async (group, ct) =>
        {
            await judgeAnswered.Task.ConfigureAwait(false);  // bounded by exec's own deadline
            await VirtualTime.Delay(Time, TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
            return ScriptedRewardSource.Signals("exec", group, [1.0, 0.0, 1.0]);
        });
        var (stage, buffer) = Stage(4, Required(exec, weight: 1.0), Optional(judge, weight: 0.5));

        stage.Tell(Generated(1));

        var annotated = buffer.ExpectMsg<AnnotatedGroup>(TimeSpan.FromSeconds(3));
        Assert.All(annotated.Rewards, r => Assert.True(r.Valid));
        Assert.Equal([1.0, 0.25, 1.0], annotated.Rewards.Select(r => r.Reward));
        Assert.False(Signal(annotated, 0, "judge").Valid);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Stage_must_invalidate_a_required_source_past_its_deadline_and_still_deliver_the_group_in_time(bool honoursCancellation)
    {
        var deadline = TimeSpan.FromMilliseconds(300);
        var (stage, buffer) = Stage(4,
            Required(ScriptedRewardSource.Values("exec", 1.0, 1.0, 1.0)),
            Required(ScriptedRewardSource.Delayed("judge", TimeSpan.FromSeconds(10), honoursCancellation, Time, 1.0, 1.0, 1.0), deadline: deadline));

        stage.Tell(Generated(1));

        var annotated = buffer.ExpectMsg<AnnotatedGroup>(TimeSpan.FromSeconds(1));
        Assert.Equal(deadline, buffer.LastReceived!.At);  // at the deadline, not before and not at the judge's 10 s
        Assert.All(annotated.Rewards, r =>
        {
            Assert.False(r.Valid);
            Assert.True(double.IsNaN(r.Reward));
            var judge = r.Signals.Single(s => s.Source == "judge");
            Assert.False(judge.Valid);
            Assert.Contains("deadline", judge.Details);
        });
    }

    public static TheoryData<string, Func<RolloutGroup, CancellationToken, Task<IReadOnlyList<RewardSignal>>>> Misbehaviours => new()
    {
        { "boom", (_, _) => throw new InvalidOperationException("boom") },
        { "boom", (_, _) => Task.FromException<IReadOnlyList<RewardSignal>>(new InvalidOperationException("boom")) },
        { "returned 2 signals for 3 rollouts", (g, _) => Task.FromResult(ScriptedRewardSource.Signals("exec", g, [1.0, 1.0, 1.0]).Take(2).ToList() as IReadOnlyList<RewardSignal>) },
        { "labelled 'rubric'", (g, _) => Task.FromResult(ScriptedRewardSource.Signals("rubric", g, [1.0, 1.0, 1.0])) },
    };

    [Theory]
    [MemberData(nameof(Misbehaviours))]
    public void Stage_must_invalidate_a_source_that_misbehaves_and_still_deliver_the_group(
        string expectedReason, Func<RolloutGroup, CancellationToken, Task<IReadOnlyList<RewardSignal>>> misbehaviour)
    {
        var (stage, buffer) = Stage(4,
            Required(new ScriptedRewardSource("exec", misbehaviour)),
            Optional(ScriptedRewardSource.Values("judge", 0.5, 0.5, 0.5)));

        stage.Tell(Generated(5));

        var annotated = buffer.ExpectMsg<AnnotatedGroup>(Soon);
        Assert.Equal(5, annotated.CreditId);
        Assert.Equal(3, annotated.Rewards.Length);
        Assert.All(annotated.Rewards, r =>
        {
            Assert.False(r.Valid);
            Assert.True(double.IsNaN(r.Reward));
            var exec = r.Signals.Single(s => s.Source == "exec");
            Assert.False(exec.Valid);
            Assert.Contains(expectedReason, exec.Details);
            // The optional judge is fast but may still lose the race to a source that fails at once: either it
            // answered, or it is marked 'not ready'; never missing, never a crash.
            var judge = r.Signals.Single(s => s.Source == "judge");
            Assert.True(judge.Valid || judge.Details!.Contains("not ready"), judge.Details);
        });
    }

    [Fact]
    public void Stage_must_invalidate_a_value_outside_the_declared_range_and_keep_the_bounds()
    {
        var source = new ScriptedRewardSource("exec", (g, _) => Task.FromResult(ScriptedRewardSource.Signals("exec", g, [-1.0, -1.5, 1.0])),
            range: (-1.0, 1.0));
        var (stage, buffer) = Stage(4, Required(source));

        stage.Tell(Generated(1));

        var annotated = buffer.ExpectMsg<AnnotatedGroup>(Soon);
        Assert.True(annotated.Rewards[0].Valid); // the bounds are inclusive
        Assert.True(annotated.Rewards[2].Valid);
        Assert.False(annotated.Rewards[1].Valid);
        Assert.True(double.IsNaN(annotated.Rewards[1].Reward));
        Assert.Contains("outside", Signal(annotated, 1, "exec").Details);
    }

    [Fact]
    public void Stage_must_invalidate_a_signal_that_claims_validity_with_a_non_finite_value()
    {
        var source = new ScriptedRewardSource("exec", (g, _) => Task.FromResult<IReadOnlyList<RewardSignal>>(
            g.Rollouts.Select(_ => new RewardSignal("exec", double.PositiveInfinity, true, TimeSpan.Zero, null)).ToList()),
            range: (double.NegativeInfinity, double.PositiveInfinity));
        var (stage, buffer) = Stage(4, Required(source));

        stage.Tell(Generated(1));

        Assert.All(buffer.ExpectMsg<AnnotatedGroup>(Soon).Rewards, r => Assert.False(r.Valid));
    }

    [Fact]
    public void Stage_must_not_let_a_slow_optional_source_hold_the_group()
    {
        var (stage, buffer) = Stage(4,
            Required(ScriptedRewardSource.Values("exec", 1.0, 0.0, 1.0)),
            Optional(ScriptedRewardSource.Delayed("judge", TimeSpan.FromSeconds(10), honoursCancellation: true, Time, 1.0, 1.0, 1.0),
                weight: 0.5, deadline: TimeSpan.FromSeconds(10)));

        var annotated = ExpectGroupWithin(stage, buffer, Generated(1), TimeSpan.Zero);

        Assert.Equal([1.0, 0.0, 1.0], annotated.Rewards.Select(r => r.Reward));
        Assert.All(annotated.Rewards, r =>
        {
            Assert.True(r.Valid);
            var judge = r.Signals.Single(s => s.Source == "judge");
            Assert.False(judge.Valid);
            Assert.Contains("not ready", judge.Details);
        });
    }

    [Fact]
    public void Stage_must_wait_for_a_fast_optional_source_within_its_deadline_but_not_for_a_slow_one()
    {
        var fast = new ScriptedRewardSource("similarity", async (g, ct) =>
        {
            await VirtualTime.Delay(Time, TimeSpan.FromMilliseconds(300), ct);
            return ScriptedRewardSource.Signals("similarity", g, [0.5, 0.5, 0.5]);
        }, RewardSourceKind.Fast);
        var (stage, buffer) = Stage(4,
            Required(ScriptedRewardSource.Values("exec", 1.0, 0.0, 1.0)),
            Optional(fast, weight: 1.0, deadline: TimeSpan.FromSeconds(5)),
            Optional(ScriptedRewardSource.Delayed("judge", TimeSpan.FromSeconds(10), honoursCancellation: true, Time, 1.0, 1.0, 1.0),
                deadline: TimeSpan.FromSeconds(10)));

        var annotated = ExpectGroupWithin(stage, buffer, Generated(1), TimeSpan.FromMilliseconds(300));

        Assert.Equal([1.5, 0.5, 1.5], annotated.Rewards.Select(r => r.Reward));
        Assert.All(annotated.Rewards, r => Assert.Contains("not ready", r.Signals.Single(s => s.Source == "judge").Details));
    }

    [Fact]
    public void Stage_must_release_the_credit_of_a_group_beyond_max_in_flight()
    {
        var gate = new TaskCompletionSource();  // opened by the test; its continuation runs on the loop's thread
        var (stage, buffer) = Stage(1, Required(ScriptedRewardSource.Gated("exec", gate.Task, 1.0, 1.0, 1.0)));

        stage.Tell(Generated(1));
        stage.Tell(Generated(2));

        var released = buffer.ExpectMsg<CreditReleased>(Soon);
        Assert.Equal(2, released.CreditId);
        Assert.Contains("full", released.Reason);
        buffer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        gate.SetResult();
        Assert.Equal(1, buffer.ExpectMsg<AnnotatedGroup>(Soon).CreditId);

        stage.Tell(Generated(3)); // the slot is free again
        Assert.Equal(3, buffer.ExpectMsg<AnnotatedGroup>(Soon).CreditId);
    }

    [Fact]
    public void Stage_must_invalidate_a_source_that_answers_null_and_still_deliver_the_group()
    {
        var (stage, buffer) = Stage(4,
            Required(new ScriptedRewardSource("exec", (_, _) => Task.FromResult<IReadOnlyList<RewardSignal>>(null!))),
            Optional(ScriptedRewardSource.Values("judge", 0.5, 0.5, 0.5)));

        stage.Tell(Generated(9));

        // A source's failure must cost that source's signals, not the whole group (AnnotationStage.ScoreAsync's contract).
        var reply = buffer.ExpectMsg<object>(Soon);
        var annotated = Assert.IsType<AnnotatedGroup>(reply);
        Assert.All(annotated.Rewards, r => Assert.False(r.Signals.Single(s => s.Source == "exec").Valid));
    }

    [Fact]
    public void Stage_must_cancel_an_optional_source_that_was_not_ready_when_the_group_left()
    {
        var running = 0;
        var peak = 0;
        var judge = new ScriptedRewardSource("judge", async (g, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            try
            {
                await VirtualTime.Delay(Time, TimeSpan.FromSeconds(10), ct);
                return ScriptedRewardSource.Signals("judge", g, [1.0, 1.0, 1.0]);
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        }, RewardSourceKind.Slow);
        var (stage, buffer) = Stage(1,
            Required(ScriptedRewardSource.Values("exec", 1.0, 1.0, 1.0)),
            Optional(judge, deadline: TimeSpan.FromSeconds(10)));

        for (var credit = 1; credit <= 3; credit++)
        {
            stage.Tell(Generated(credit));
            Assert.Equal(credit, buffer.ExpectMsg<AnnotatedGroup>(Soon).CreditId);
        }

        // Each group left with the judge marked 'not ready': its call must be cancelled, not left running for 10 s.
        AwaitCondition(() => Volatile.Read(ref running) == 0, TimeSpan.Zero, "every judge call cancelled as its group left");
        Assert.Equal(0, ForeignPosts);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
            if (Interlocked.CompareExchange(ref target, value, seen) == seen) return;
    }

    /// <summary>The group must leave the stage exactly <paramref name="after"/> (virtual) after it came in.</summary>
    private AnnotatedGroup ExpectGroupWithin(IActorRef stage, VirtualProbe buffer, GeneratedGroup group, TimeSpan after)
    {
        var sent = Now;
        stage.Tell(group);
        var annotated = buffer.ExpectMsg<AnnotatedGroup>(TimeSpan.FromSeconds(3));
        Assert.Equal(after, buffer.LastReceived!.At - sent);
        return annotated;
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
