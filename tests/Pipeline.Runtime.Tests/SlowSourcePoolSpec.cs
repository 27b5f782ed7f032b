using Akka.Actor;
using Akka.TestKit;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Xunit.Abstractions;
using static Pipeline.Runtime.Tests.RolloutGroups;
using static Pipeline.Runtime.Actors.SlowSourcePool;

namespace Pipeline.Runtime.Tests;

public class SlowSourcePoolSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(2);

    private IActorRef Pool(IRewardSource source, int workers, int queue)
        => Sys.ActorOf(SlowSourcePool.Props(new Dictionary<string, IRewardSource> { [source.Name] = source }, workers, queue));

    private static ScoreRequest Request(long id, TimeSpan? deadline = null)
        => new(id, "judge", Build($"g{id}", 0), deadline ?? TimeSpan.FromSeconds(10));

    [Fact]
    public void Pool_must_answer_at_once_with_invalid_signals_when_its_queue_is_full()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pool = Pool(ScriptedRewardSource.Gated("judge", gate.Task, 0.5, 0.5, 0.5), workers: 1, queue: 1);

        pool.Tell(Request(1)); // runs
        pool.Tell(Request(2)); // waits
        pool.Tell(Request(3)); // beyond the bound

        var rejected = ExpectMsg<ScoreReply>(Soon);
        Assert.Equal(3, rejected.RequestId);
        Assert.All(rejected.Signals, s => { Assert.False(s.Valid); Assert.Contains("slow pool full", s.Details); });
        pool.Tell(GetStats.Instance);
        var stats = ExpectMsg<Stats>(Soon);
        Assert.Equal((1, 1, 1L), (stats.Running, stats.Queued, stats.RejectedFull));

        gate.SetResult();
        var answered = new[] { ExpectMsg<ScoreReply>(Soon), ExpectMsg<ScoreReply>(Soon) };
        Assert.Equal([1L, 2L], answered.Select(a => a.RequestId).Order());
        Assert.All(answered.SelectMany(a => a.Signals), s => Assert.Equal(0.5, s.Value));
    }

    [Fact]
    public void Pool_must_answer_a_request_whose_deadline_passed_in_the_queue_as_invalid()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pool = Pool(ScriptedRewardSource.Gated("judge", gate.Task, 1.0, 1.0, 1.0), workers: 1, queue: 4);

        pool.Tell(Request(1));
        pool.Tell(Request(2, TimeSpan.FromMilliseconds(100)));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        gate.SetResult();

        var replies = new[] { ExpectMsg<ScoreReply>(Soon), ExpectMsg<ScoreReply>(Soon) }.ToDictionary(r => r.RequestId);
        Assert.All(replies[1].Signals, s => Assert.True(s.Valid));
        Assert.All(replies[2].Signals, s => Assert.Contains("deadline passed in the slow pool's queue", s.Details));
        pool.Tell(GetStats.Instance);
        Assert.Equal(1, ExpectMsg<Stats>(Soon).ExpiredInQueue);
    }

    [Fact]
    public async Task Pool_must_cancel_a_running_call_on_request_and_free_its_worker()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new ScriptedRewardSource("judge", async (g, ct) =>
        {
            await using var _ = ct.Register(() => cancelled.TrySetResult());
            started.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return ScriptedRewardSource.Signals("judge", g, [1.0, 1.0, 1.0]);
        }, RewardSourceKind.Slow);
        var pool = Pool(source, workers: 1, queue: 0);

        pool.Tell(Request(1));
        await started.Task.WaitAsync(Soon); // TimeoutException: the source never started
        pool.Tell(new CancelScore(1));

        await cancelled.Task.WaitAsync(Soon); // TimeoutException: the source never saw the cancellation
        var reply = ExpectMsg<ScoreReply>(Soon);
        Assert.All(reply.Signals, s => Assert.Contains("cancelled", s.Details));
        pool.Tell(GetStats.Instance);
        var stats = ExpectMsg<Stats>(Soon);
        Assert.Equal((0, 1L), (stats.Running, stats.Cancelled));
    }

    [Fact]
    public void Pool_must_hold_the_deadline_of_a_source_that_never_answers()
    {
        var source = ScriptedRewardSource.Delayed("judge", TimeSpan.FromSeconds(30), honoursCancellation: true, 1.0, 1.0, 1.0);
        var pool = Pool(source, workers: 2, queue: 2);

        pool.Tell(Request(1, TimeSpan.FromMilliseconds(200)));

        var reply = ExpectMsg<ScoreReply>(Soon);
        Assert.All(reply.Signals, s => Assert.False(s.Valid));
    }

    [Fact]
    public void An_optional_slow_source_never_holds_a_group_never_queues_and_its_late_answer_is_published_for_labels()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var judge = ScriptedRewardSource.Gated("judge", gate.Task, RewardSourceKind.Slow, 0.9, 0.9, 0.9);
        var pool = Pool(judge, workers: 1, queue: 8);
        var spec = new RewardSourceSpec("judge", 0.5, Required: false, TimeSpan.FromSeconds(5));
        var sources = new (IRewardSource, RewardSourceSpec)[]
        {
            (ScriptedRewardSource.Values("exec", 1.0, 0.0, 1.0), new RewardSourceSpec("exec", 1.0, true, TimeSpan.FromSeconds(5))),
            (new PooledRewardSource(judge, pool, spec.Deadline, required: false), spec),
        };
        var labels = CreateTestProbe();
        Sys.EventStream.Subscribe(labels.Ref, typeof(SlowSourcePool.SlowSourceScored));
        var buffer = CreateTestProbe();
        var stage = Sys.ActorOf(AnnotationStage.Props(sources, buffer.Ref, maxInFlight: 8));

        stage.Tell(Generated(1)); // takes the pool's only worker; the judge is not ready when exec is done
        var first = buffer.ExpectMsg<AnnotatedGroup>(Soon);
        Assert.Equal([1.0, 0.0, 1.0], first.Rewards.Select(r => r.Reward));
        Assert.All(first.Rewards, r => Assert.Contains("not ready", r.Signals.Single(s => s.Source == "judge").Details));

        // Group 1's judge call is scored off the stage's thread: under load it may reach the pool only after group 1 left.
        // Wait until it holds the worker, so group 2's call is the one refused.
        AwaitAssert(() =>
        {
            pool.Tell(GetStats.Instance);
            Assert.Equal(1, ExpectMsg<Stats>(Soon).Running);
        }, Soon);
        stage.Tell(Generated(2)); // the worker is still busy with group 1: an optional call is refused, not queued
        var second = buffer.ExpectMsg<AnnotatedGroup>(Soon);
        // The group leaves as soon as exec is done: the judge's signal says "busy" if the pool's refusal came first, else "not ready".
        Assert.All(second.Rewards, r => Assert.Matches("busy|not ready", r.Signals.Single(s => s.Source == "judge").Details));

        // Group 1's call was not cancelled when its group left: once the judge answers, the labels are published.
        gate.SetResult();
        var late = labels.ExpectMsg<SlowSourcePool.SlowSourceScored>(Soon);
        Assert.Equal("g1", late.Group.GroupId);
        Assert.All(late.Signals, s => Assert.Equal(0.9, s.Value));
        pool.Tell(GetStats.Instance);
        var stats = ExpectMsg<Stats>(Soon);
        Assert.Equal((0, 0, 1L, 0L), (stats.Running, stats.Queued, stats.RejectedBusy, stats.Cancelled));
    }
}
