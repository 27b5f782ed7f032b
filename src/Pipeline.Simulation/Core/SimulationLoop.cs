using System.Collections.Concurrent;
using Akka.Dispatch;

namespace Pipeline.Simulation.Core;

/// <summary>
/// The one thread a simulation runs on: every dispatcher of its ActorSystem queues mailbox runs here (FIFO) and its
/// scheduler's timers live in the <see cref="VirtualClock"/>. <see cref="RunUntil"/> runs queued work until none is left,
/// then pops the earliest timer (moving now to its due time), and so on until the end time. Nothing waits on the wall
/// clock and nothing runs on the thread pool; work posted from another thread is counted in <see cref="ForeignPosts"/>
/// (a determinism check that must stay 0).
/// </summary>
public sealed class SimulationLoop : IDisposable
{
    private static readonly ConcurrentDictionary<string, SimulationLoop> Registry = new(StringComparer.Ordinal);

    private readonly Queue<IRunnable> _work = new();
    private readonly object _gate = new();
    private int _threadId = Environment.CurrentManagedThreadId;
    private long _foreignPosts;
    private long _runs;

    public SimulationLoop()
    {
        Id = Guid.NewGuid().ToString("N");
        Registry[Id] = this;
    }

    /// <summary>The key by which the dispatcher configurator and the scheduler of an ActorSystem find this loop (its config holds it).</summary>
    public string Id { get; }

    public VirtualClock Clock { get; } = new();

    /// <summary>Work posted from a thread other than the loop's: each one is a chance of non-determinism.</summary>
    public long ForeignPosts => Interlocked.Read(ref _foreignPosts);

    /// <summary>Mailbox runs and scheduled actions executed so far (how much the simulation did).</summary>
    public long Runs => _runs;

    internal static SimulationLoop Find(string id)
        => Registry.TryGetValue(id, out var loop) ? loop
            : throw new InvalidOperationException($"no simulation loop '{id}' (the ActorSystem was configured for a loop that is gone)");

    internal void Post(IRunnable run)
    {
        if (Environment.CurrentManagedThreadId != _threadId) Interlocked.Increment(ref _foreignPosts);
        lock (_gate) _work.Enqueue(run);
    }

    /// <summary>Runs queued work only, without moving time; true when any ran.</summary>
    public bool Drain()
    {
        _threadId = Environment.CurrentManagedThreadId;
        // Awaits inside actors (PipeTo captures the context) must continue on this thread, not on a host's context (xUnit's).
        if (SynchronizationContext.Current is not null) SynchronizationContext.SetSynchronizationContext(null);
        var any = false;
        while (true)
        {
            IRunnable? next;
            lock (_gate) if (!_work.TryDequeue(out next)) return any;
            any = true;
            _runs++;
            next.Run();
        }
    }

    /// <summary>Runs the simulation until virtual time <paramref name="until"/> (since <see cref="VirtualClock.Epoch"/>) or until <paramref name="stop"/> says so.</summary>
    public void RunUntil(TimeSpan until, Func<bool>? stop = null)
    {
        while (true)
        {
            Drain();
            if (stop?.Invoke() == true) return;
            if (!Clock.TryRunNext(until)) break;
            _runs++;
        }
        Clock.AdvanceTo(until);
    }

    public void Dispose() => Registry.TryRemove(Id, out _);
}
