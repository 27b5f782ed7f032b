using Akka.Actor;
using Pipeline.Simulation.Core;

namespace Pipeline.Simulation.Tests;

/// <summary>The deterministic core: virtual clock, scheduler and one-thread dispatcher under a toy actor.</summary>
public class SimulationLoopSpec
{
    private sealed record Ping(int N);

    /// <summary>Answers every ping after a virtual delay (an actor timer) and logs when, in virtual seconds, each came back.</summary>
    private sealed class Echo : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;
        public Echo(List<string> log)
        {
            Receive<Ping>(p => Timers.StartSingleTimer("t" + p.N, new Ping(-p.N), TimeSpan.FromSeconds(p.N)), p => p.N > 0);
            Receive<Ping>(p => log.Add($"{-p.N}@{Context.System.Scheduler.MonotonicClock.TotalSeconds}"));
        }
    }

    private static (List<string> Log, TimeSpan End, long Foreign) RunToy()
    {
        using var loop = new SimulationLoop();
        var log = new List<string>();
        var system = SimulatedActorSystem.Create("toy", loop);
        var echo = system.ActorOf(Props.Create(() => new Echo(log)), "echo");
        foreach (var n in new[] { 5, 1, 3, 3600 }) echo.Tell(new Ping(n));
        loop.RunUntil(TimeSpan.FromSeconds(10));
        var end = loop.Clock.Elapsed;
        SimulatedActorSystem.Terminate(system, loop, TimeSpan.FromMinutes(1));
        return (log, end, loop.ForeignPosts);
    }

    [Fact]
    public void A_toy_actor_sees_its_timers_fire_in_virtual_time_order_without_waiting()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (log, end, foreign) = RunToy();
        Assert.Equal(["1@1", "3@3", "5@5"], log);  // the 3600 s timer lies past the end
        Assert.Equal(TimeSpan.FromSeconds(10), end);
        Assert.Equal(0, foreign);
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(10), "virtual seconds must not be waited for");
    }

    [Fact]
    public void Two_runs_of_the_toy_actor_give_the_same_log()
        => Assert.Equal(RunToy().Log, RunToy().Log);

    [Fact]
    public void Timers_due_at_the_same_instant_run_in_the_order_they_were_set()
    {
        var clock = new VirtualClock();
        var order = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            var n = i;
            clock.Schedule(TimeSpan.FromSeconds(2), () => order.Add(n));
        }
        clock.Schedule(TimeSpan.FromSeconds(1), () => order.Add(-1));
        while (clock.TryRunNext(TimeSpan.FromSeconds(3))) { }
        Assert.Equal([-1, 0, 1, 2, 3, 4], order);
    }

    [Fact]
    public void A_disposed_time_provider_timer_never_fires()
    {
        var clock = new VirtualClock();
        var fired = 0;
        var kept = clock.CreateTimer(_ => fired += 1, null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        var dropped = clock.CreateTimer(_ => fired += 100, null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        dropped.Dispose();
        while (clock.TryRunNext(TimeSpan.FromSeconds(5))) { }
        Assert.Equal(1, fired);
        kept.Dispose();
    }
}
