using Akka.Actor;
using Akka.Configuration;

namespace Pipeline.Simulation.Core;

/// <summary>
/// Creates an ActorSystem that runs on a <see cref="SimulationLoop"/>: its scheduler is the <see cref="VirtualScheduler"/>,
/// and its default, internal, blocking-io and torch dispatchers are <see cref="SimulationDispatcher"/>s. The only logger is
/// the synchronous stdout one (a logger actor would be awaited with a wall-clock timeout at start-up).
/// </summary>
public static class SimulatedActorSystem
{
    /// <summary>The config key naming the loop (read by the scheduler and the dispatcher configurator).</summary>
    public const string LoopKey = "pipeline-simulation.loop";

    private const string DispatcherType = "\"Pipeline.Simulation.Core.SimulationDispatcherConfigurator, Pipeline.Simulation\"";

    /// <summary>Creates the system on <paramref name="loop"/>'s thread (the caller's), over <paramref name="fallback"/> (the run's akka and dispatcher settings).</summary>
    public static ActorSystem Create(string name, SimulationLoop loop, Config? fallback = null, string logLevel = "WARNING")
    {
        var config = ConfigurationFactory.ParseString($$"""
            {{LoopKey}} = "{{loop.Id}}"
            akka {
              loglevel = {{logLevel}}
              stdout-loglevel = {{logLevel}}
              loggers = ["Akka.Event.StandardOutLogger, Akka"]
              log-dead-letters = off
              log-dead-letters-during-shutdown = off
              scheduler.implementation = "Pipeline.Simulation.Core.VirtualScheduler, Pipeline.Simulation"
              actor.default-dispatcher.type = {{DispatcherType}}
              actor.internal-dispatcher.type = {{DispatcherType}}
              actor.default-blocking-io-dispatcher.type = {{DispatcherType}}
              coordinated-shutdown.run-by-clr-shutdown-hook = off
              coordinated-shutdown.run-by-actor-system-terminate = off
            }
            pipeline-torch-dispatcher.type = {{DispatcherType}}
            pipeline-generator-mailbox.mailbox-type = "Pipeline.Runtime.Actors.GeneratorMailbox, Pipeline.Runtime"
            """);
        if (fallback is not null) config = config.WithFallback(fallback);
        loop.Drain();
        var system = ActorSystem.Create(name, config);
        loop.Drain();
        return system;
    }

    /// <summary>Terminates <paramref name="system"/> by running the loop (without moving time past what shutdown timers need) until it is gone.</summary>
    public static void Terminate(ActorSystem system, SimulationLoop loop, TimeSpan grace)
    {
        var terminated = system.Terminate();
        var until = loop.Clock.Elapsed + grace;
        // The last step of termination completes its task from Akka's own continuations: give them a (wall-clock) moment.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!terminated.IsCompleted && DateTime.UtcNow < deadline)
        {
            loop.RunUntil(loop.Clock.Elapsed, () => terminated.IsCompleted);
            if (!terminated.IsCompleted) terminated.Wait(TimeSpan.FromMilliseconds(10));
        }
        if (!terminated.IsCompleted) loop.RunUntil(until, () => terminated.IsCompleted);
        if (!terminated.IsCompleted)
            throw new InvalidOperationException($"the simulated ActorSystem did not terminate within {grace.TotalSeconds:0.#} s of virtual time");
    }
}
