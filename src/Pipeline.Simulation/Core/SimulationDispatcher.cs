using Akka.Configuration;
using Akka.Dispatch;

namespace Pipeline.Simulation.Core;

/// <summary>
/// Every dispatcher of a simulated ActorSystem (default, internal, the torch pinned one) is this: a mailbox run is queued on
/// the <see cref="SimulationLoop"/> named by <c>pipeline-simulation.loop</c> in the system's config, never on a thread.
/// Configured with <c>type = "Pipeline.Simulation.Core.SimulationDispatcherConfigurator, Pipeline.Simulation"</c>.
/// </summary>
public sealed class SimulationDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly SimulationDispatcher _dispatcher;

    public SimulationDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites)
    {
        var loop = SimulationLoop.Find(prerequisites.Settings.Config.GetString(SimulatedActorSystem.LoopKey));
        _dispatcher = new SimulationDispatcher(this, loop);
    }

    public override MessageDispatcher Dispatcher() => _dispatcher;
}

/// <summary>Queues every mailbox run on the simulation loop (one thread, FIFO).</summary>
public sealed class SimulationDispatcher(MessageDispatcherConfigurator configurator, SimulationLoop loop)
    : MessageDispatcher(configurator)
{
    protected override void ExecuteTask(IRunnable run) => loop.Post(run);

    // Nothing to stop: the loop belongs to the simulation, not to the dispatcher.
    protected override void Shutdown() { }
}
