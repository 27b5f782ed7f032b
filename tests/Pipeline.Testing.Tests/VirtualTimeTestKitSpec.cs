using System.Diagnostics;
using Akka.Actor;

namespace Pipeline.Testing.Tests;

/// <summary>The kit itself: virtual time passes without wall time, probes stop at the instant a message arrives, nodes die and come back.</summary>
public sealed class VirtualTimeTestKitSpec : VirtualTimeTestKit
{
    private sealed record Ping(int N);

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>Counts a 1 s periodic timer and answers a ping after N virtual seconds.</summary>
    private sealed class Clockwork : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public Clockwork(int[] ticks)
        {
            Receive<Tick>(_ => ticks[0]++);
            Receive<Ping>(p =>
            {
                var sender = Sender;
                Context.System.Scheduler.ScheduleTellOnce(TimeSpan.FromSeconds(p.N), sender, p, Self);
            });
        }

        protected override void PreStart() => Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromSeconds(1));
    }

    private IActorRef StartClockwork(int[] ticks, string? name = null) => Sys.ActorOf(Props.Create(() => new Clockwork(ticks)), name ?? "clockwork");

    [Fact]
    public void An_hour_of_virtual_time_passes_in_well_under_a_second_and_every_timer_in_it_fires()
    {
        var ticks = new int[1];
        StartClockwork(ticks);
        var started = Stopwatch.GetTimestamp();

        Advance(TimeSpan.FromHours(1));

        var wall = Stopwatch.GetElapsedTime(started);
        Assert.Equal(3600, ticks[0]);
        Assert.Equal(TimeSpan.FromHours(1), Now);
        Assert.Equal(0, ForeignPosts);
        // Waited for, the hour would take 3600 s; 2 s leaves room for a loaded 2-core box.
        Assert.True(wall < TimeSpan.FromSeconds(2), $"an hour of virtual time took {wall.TotalMilliseconds:0} ms of wall time");
    }

    [Fact]
    public void ExpectMsg_stops_virtual_time_at_the_instant_the_message_arrives()
    {
        var clockwork = StartClockwork(new int[1]);
        var probe = CreateTestProbe();

        probe.Send(clockwork, new Ping(5));
        var echo = probe.ExpectMsg<Ping>(TimeSpan.FromHours(1));

        Assert.Equal(5, echo.N);
        Assert.Equal(TimeSpan.FromSeconds(5), Now);
        Assert.Equal(TimeSpan.FromSeconds(5), probe.LastReceived!.At);
        Assert.Equal(clockwork, probe.LastSender);
    }

    [Fact]
    public void ExpectMsg_fails_at_its_virtual_deadline_naming_what_it_waited_for()
    {
        var clockwork = StartClockwork(new int[1]);
        var probe = CreateTestProbe("learner");

        probe.Send(clockwork, new Ping(10));
        var failure = Assert.Throws<VirtualTimeExpectationException>(() => probe.ExpectMsg<Ping>(TimeSpan.FromSeconds(3)));

        Assert.Contains("learner", failure.Message);
        Assert.Contains(nameof(Ping), failure.Message);
        Assert.Equal(TimeSpan.FromSeconds(3), Now);
        Assert.Equal(10, probe.ExpectMsg<Ping>(TimeSpan.FromSeconds(7)).N);  // still on its way, and due at 10 s
        Assert.Equal(TimeSpan.FromSeconds(10), Now);
    }

    [Fact]
    public void ExpectNoMsg_fails_when_a_message_arrives_in_its_window_and_ExpectMsg_rejects_the_wrong_type()
    {
        var clockwork = StartClockwork(new int[1]);
        var probe = CreateTestProbe();

        probe.Send(clockwork, new Ping(2));
        probe.ExpectNoMsg(TimeSpan.FromSeconds(1.5));
        Assert.Throws<VirtualTimeExpectationException>(() => probe.ExpectNoMsg(TimeSpan.FromSeconds(1)));

        probe.Send(clockwork, new Ping(1));
        var wrong = Assert.Throws<VirtualTimeExpectationException>(() => probe.ExpectMsg<string>(TimeSpan.FromSeconds(2)));
        Assert.Contains("expected a String, got Ping", wrong.Message);
    }

    [Fact]
    public void A_drop_rule_drops_what_it_says_and_forwards_the_rest_with_the_original_sender()
    {
        var target = CreateTestProbe("target");
        var sender = CreateTestProbe("sender");
        var link = Interpose(target.Ref, LinkRule.Drop<Ping>(p => p.N % 2 == 0));

        for (var n = 1; n <= 10; n++) sender.Send(link.Ref, new Ping(n));

        var arrived = target.ReceiveWhile(TimeSpan.FromSeconds(1));
        Assert.Equal([1, 3, 5, 7, 9], arrived.Select(r => ((Ping)r.Message).N));
        Assert.All(arrived, r => Assert.Equal(sender.Ref, r.Sender));
        Assert.Equal([2, 4, 6, 8, 10], link.Dropped.Select(m => ((Ping)m).N));
        Assert.Equal(5, link.DroppedCount);
        Assert.Equal(5, link.Forwarded);
    }

    [Fact]
    public void A_delayed_message_arrives_at_the_virtual_time_it_should_and_not_before()
    {
        var target = CreateTestProbe();
        var link = Interpose(target.Ref, LinkRule.Delay<Ping>(TimeSpan.FromSeconds(7)).Or(LinkRule.Drop<string>()));
        Advance(TimeSpan.FromSeconds(2));

        link.Ref.Tell(new Ping(1));
        link.Ref.Tell("dropped");
        target.ExpectNoMsg(TimeSpan.FromSeconds(6.9));
        target.ExpectMsg<Ping>(TimeSpan.FromSeconds(1));

        Assert.Equal(TimeSpan.FromSeconds(9), target.LastReceived!.At);
        Assert.Equal(1, link.Delayed);
        Assert.Equal(1, link.DroppedCount);
        target.ExpectNoMsg(TimeSpan.FromMinutes(1));
    }

    [Fact]
    public void A_seeded_drop_fraction_drops_the_same_messages_in_every_run()
    {
        static int[] Run(int seed)
        {
            using var kit = new VirtualTimeTestKit();
            var target = kit.CreateTestProbe();
            var link = kit.Interpose(target.Ref, LinkRule.DropFraction(0.3), seed);
            for (var n = 0; n < 200; n++) link.Ref.Tell(new Ping(n));
            kit.Drain();
            Assert.Equal(200 - link.DroppedCount, target.Pending);
            return [.. link.Dropped.Select(m => ((Ping)m).N)];
        }

        var first = Run(seed: 11);
        Assert.Equal(first, Run(seed: 11));
        Assert.NotEqual(first, Run(seed: 12));
        Assert.InRange(first.Length, 40, 80);  // 30 % of 200, within about three standard deviations
    }

    [Fact]
    public void A_killed_node_is_terminated_for_its_watchers_and_a_restarted_one_answers_under_the_same_name()
    {
        var ticks = new int[1];
        var node = StartClockwork(ticks, "node");
        var watcher = CreateTestProbe();
        watcher.Watch(node);
        Advance(TimeSpan.FromSeconds(3));

        Kill(node);
        watcher.ExpectTerminated(node, TimeSpan.Zero);
        Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(3, ticks[0]);  // a dead node's timers are gone

        var again = Restart(node, Props.Create(() => new Clockwork(ticks)));
        var probe = CreateTestProbe();
        probe.Send(again, new Ping(1));
        probe.ExpectMsg<Ping>(TimeSpan.FromSeconds(1));
        Assert.Equal("node", again.Path.Name);
    }

    [Fact]
    public void Driving_the_loop_from_inside_it_is_refused_with_a_clear_error()
    {
        Exception? refused = null;
        Schedule(TimeSpan.FromSeconds(1), () => refused = Record.Exception(() => Advance(TimeSpan.FromSeconds(1))));

        Advance(TimeSpan.FromSeconds(2));

        var error = Assert.IsType<InvalidOperationException>(refused);
        Assert.Contains("already running", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Advance(TimeSpan.FromSeconds(-1)));
    }
}
