using Akka.Actor;
using Akka.Configuration;
using Pipeline.Runtime.Hosting;
using Pipeline.Simulation.Core;

namespace Pipeline.Testing;

/// <summary>
/// An Akka TestKit on virtual time, for xUnit specs (derive from it, or create one per test and dispose it). It owns a
/// <see cref="SimulationLoop"/> and an ActorSystem on it (<see cref="Sys"/>): every actor, timer and scheduled message runs
/// on the test's own thread, and time moves only when the test asks (<see cref="Advance"/>, <see cref="RunUntil"/>, or a
/// probe's <see cref="VirtualProbe.ExpectMsg{T}"/>, which stops at the virtual instant the message arrives). An hour of
/// virtual time costs what the work in it costs, not an hour; nothing races, so a spec either always passes or always fails.
/// <para>
/// Akka.TestKit's <c>TestProbe</c> blocks on a wall-clock queue, which would stop the one thread the loop runs on; use
/// <see cref="CreateTestProbe"/> instead: a probe actor records what it receives and the test reads it after the loop ran.
/// Actors that read time (the replay buffer, annotation stage, generator) take <see cref="Clock"/> through their settings
/// or <see cref="RoleBuilders"/>; one that reads <c>DateTime.UtcNow</c> or a <c>Stopwatch</c> directly sees wall time.
/// </para>
/// </summary>
public class VirtualTimeTestKit : IDisposable
{
    /// <summary>How long (virtual) the system may take to terminate when the kit is disposed.</summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromMinutes(1);

    private int _driving;
    private int _probes;
    private bool _disposed;

    /// <param name="config">HOCON for the system (dispatchers, mailboxes); the simulation's scheduler and dispatchers take precedence.</param>
    /// <param name="name">The ActorSystem's name.</param>
    /// <param name="logLevel">Akka's log level (logs go to stdout).</param>
    public VirtualTimeTestKit(string? config = null, string name = "spec", string logLevel = "WARNING")
        : this(string.IsNullOrWhiteSpace(config) ? null : ConfigurationFactory.ParseString(config), name, logLevel)
    {
    }

    public VirtualTimeTestKit(Config? config, string name = "spec", string logLevel = "WARNING")
    {
        Loop = new SimulationLoop();
        Sys = SimulatedActorSystem.Create(name, Loop, config, logLevel);
        Clock = new RunClock(Loop.Clock, CallSourcesInline: true);
    }

    /// <summary>The loop every actor of <see cref="Sys"/> runs on.</summary>
    public SimulationLoop Loop { get; }

    /// <summary>The ActorSystem under test, on virtual time.</summary>
    public ActorSystem Sys { get; }

    /// <summary>The clock to give the roles (<see cref="RoleBuilders"/>' <c>clock</c>, a settings' <c>Clock</c>): virtual time, sources called inline.</summary>
    public RunClock Clock { get; }

    /// <summary>The virtual clock as a <see cref="TimeProvider"/> (for <c>Task.Delay(d, Time)</c> in a scripted source).</summary>
    public TimeProvider Time => Loop.Clock;

    /// <summary>Virtual time since the kit started.</summary>
    public TimeSpan Now => Loop.Clock.Elapsed;

    /// <summary>Work posted to the loop from another thread (a thread-pool continuation): each one is a chance of a race; 0 in a deterministic spec.</summary>
    public long ForeignPosts => Loop.ForeignPosts;

    /// <summary>Runs the work already queued (messages sent, continuations) without moving time.</summary>
    public void Drain()
    {
        using var _ = Driving();
        Loop.Drain();
    }

    /// <summary>Runs the system for <paramref name="by"/> of virtual time: every timer due in it fires at its instant.</summary>
    public void Advance(TimeSpan by)
    {
        if (by < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(by), by, "virtual time only moves forward");
        using var _ = Driving();
        Loop.RunUntil(Now + by);
    }

    /// <summary>
    /// Runs the system until <paramref name="condition"/> holds (checked whenever queued work is done, before time moves),
    /// or until <paramref name="within"/> of virtual time has passed. True when the condition held; time stops where it did.
    /// </summary>
    public bool RunUntil(Func<bool> condition, TimeSpan within)
    {
        ArgumentNullException.ThrowIfNull(condition);
        if (within < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(within), within, "a virtual deadline cannot lie in the past");
        using var _ = Driving();
        Loop.RunUntil(Now + within, condition);
        return condition();
    }

    /// <summary>As <see cref="RunUntil"/>, failing with <paramref name="what"/> when the condition does not hold in time.</summary>
    public void AwaitCondition(Func<bool> condition, TimeSpan within, string what = "the condition")
    {
        var started = Now;
        if (!RunUntil(condition, within))
            throw new VirtualTimeExpectationException($"{what} did not hold within {within} of virtual time (from {started} to {Now})");
    }

    /// <summary>Runs <paramref name="action"/> on the loop when virtual time reaches now + <paramref name="delay"/> (it must not drive the loop itself).</summary>
    public void Schedule(TimeSpan delay, Action action) => Loop.Clock.Schedule(delay, action);

    /// <summary>A probe that records what it receives; its expectations move virtual time (see <see cref="VirtualProbe"/>).</summary>
    public VirtualProbe CreateTestProbe(string? name = null)
    {
        var probe = new VirtualProbe(this, Sys, name ?? $"probe-{++_probes}");
        Drain();
        return probe;
    }

    /// <summary>Stops <paramref name="actor"/> ("kills a node") and runs the loop until it has terminated, so its watchers have been told.</summary>
    public void Kill(IActorRef actor, TimeSpan? within = null)
    {
        var watcher = CreateTestProbe();
        watcher.Watch(actor);
        Sys.Stop(actor);
        watcher.ExpectTerminated(actor, within ?? TimeSpan.FromSeconds(10));
        Sys.Stop(watcher.Ref);
    }

    /// <summary>Kills the top-level <paramref name="actor"/>, then starts <paramref name="props"/> under the same name (a node that comes back).</summary>
    public IActorRef Restart(IActorRef actor, Props props, TimeSpan? within = null)
    {
        Kill(actor, within);
        var again = Sys.ActorOf(props, actor.Path.Name);
        Drain();
        return again;
    }

    /// <summary>
    /// Puts a link in front of <paramref name="target"/>: what is sent to the returned <see cref="FaultyLink.Ref"/> reaches the
    /// target (with the original sender) unless <paramref name="rule"/> drops or delays it. Give the link's ref, in place of
    /// the target's, to the actor whose messages are to suffer. <paramref name="seed"/> fixes every random decision.
    /// </summary>
    public FaultyLink Interpose(IActorRef target, LinkRule rule, int seed = 0, string? name = null)
    {
        var link = new FaultyLink(Sys, target, rule, seed, name ?? $"link-to-{target.Path.Name}-{++_probes}");
        Drain();
        return link;
    }

    /// <summary>Guards the loop against being driven from inside itself (a scheduled action or an actor calling Advance would re-enter it).</summary>
    internal IDisposable Driving()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (++_driving > 1)
        {
            _driving--;
            throw new InvalidOperationException(
                "the virtual-time loop is already running: an actor or a scheduled action may not Advance, RunUntil or Expect; schedule the step instead");
        }
        return new Release(this);
    }

    private sealed class Release(VirtualTimeTestKit kit) : IDisposable
    {
        public void Dispose() => kit._driving--;
    }

    protected virtual void Dispose(bool disposing)
    {
        if (_disposed || !disposing) return;
        try
        {
            SimulatedActorSystem.Terminate(Sys, Loop, ShutdownGrace);
        }
        finally
        {
            _disposed = true;
            Loop.Dispose();
        }
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }
}
