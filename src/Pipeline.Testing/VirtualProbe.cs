using Akka.Actor;

namespace Pipeline.Testing;

/// <summary>A message a <see cref="VirtualProbe"/> received: from whom, and at which virtual time.</summary>
public sealed record ReceivedMessage(object Message, IActorRef Sender, TimeSpan At);

/// <summary>
/// A TestProbe for virtual time. Its actor records every message (with its sender and the virtual time it arrived) into a
/// queue on the loop's thread; <see cref="ExpectMsg{T}"/> runs the loop until that queue has a message or the virtual
/// deadline passes, so it never sleeps and never races. An expectation that fails throws
/// <see cref="VirtualTimeExpectationException"/> naming what came instead.
/// </summary>
public sealed class VirtualProbe
{
    /// <summary>Messages a probe holds untaken; past it the probe counts what it refused and every expectation fails.</summary>
    public const int MaxPending = 100_000;

    private readonly VirtualTimeTestKit _kit;
    private readonly Queue<ReceivedMessage> _queue = new();
    private long _refused;

    internal VirtualProbe(VirtualTimeTestKit kit, ActorSystem system, string name)
    {
        _kit = kit;
        Ref = system.ActorOf(Props.Create(() => new Recorder(this, kit)), name);
    }

    /// <summary>The probe's actor: give it to the actor under test as a collaborator.</summary>
    public IActorRef Ref { get; }

    /// <summary>The sender of the last message taken by an expectation.</summary>
    public IActorRef LastSender { get; private set; } = ActorRefs.Nobody;

    /// <summary>The last message taken by an expectation, with the virtual time it arrived.</summary>
    public ReceivedMessage? LastReceived { get; private set; }

    /// <summary>Messages received and not yet taken by an expectation (without running the loop).</summary>
    public int Pending => _queue.Count;

    /// <summary>
    /// Runs the loop until a message arrives or <paramref name="within"/> of virtual time passes, and takes it; it must be a
    /// <typeparamref name="T"/> (and satisfy <paramref name="where"/>).
    /// </summary>
    public T ExpectMsg<T>(TimeSpan within, Func<T, bool>? where = null)
    {
        var received = Next(within) ?? throw new VirtualTimeExpectationException(
            $"{Ref.Path.Name}: no message within {within} of virtual time (expected a {typeof(T).Name}; now {_kit.Now})");
        if (received.Message is not T message)
            throw new VirtualTimeExpectationException(
                $"{Ref.Path.Name}: expected a {typeof(T).Name}, got {received.Message.GetType().Name}: {received.Message} (at {received.At})");
        if (where is not null && !where(message))
            throw new VirtualTimeExpectationException($"{Ref.Path.Name}: the {typeof(T).Name} received at {received.At} did not match: {message}");
        return message;
    }

    /// <summary>Expects <paramref name="expected"/> (by Equals) within <paramref name="within"/> of virtual time.</summary>
    public T ExpectMsg<T>(T expected, TimeSpan within)
    {
        var message = ExpectMsg<T>(within);
        if (!Equals(message, expected))
            throw new VirtualTimeExpectationException($"{Ref.Path.Name}: expected {expected}, got {message}");
        return message;
    }

    /// <summary>Runs the loop for <paramref name="within"/> of virtual time and fails if any message arrives (naming the first).</summary>
    public void ExpectNoMsg(TimeSpan within)
    {
        var received = Next(within);
        if (received is not null)
            throw new VirtualTimeExpectationException(
                $"{Ref.Path.Name}: expected no message for {within} of virtual time, got {received.Message.GetType().Name}: {received.Message} (at {received.At})");
    }

    /// <summary>Runs the loop for all of <paramref name="within"/> and takes every message that arrived, in order.</summary>
    public IReadOnlyList<ReceivedMessage> ReceiveWhile(TimeSpan within)
    {
        _kit.Advance(within);
        var all = new List<ReceivedMessage>();
        while (_queue.TryDequeue(out var r)) Take(r, all);
        return all;
    }

    /// <summary>Sends <paramref name="message"/> to <paramref name="target"/> with this probe as the sender.</summary>
    public void Send(IActorRef target, object message) => target.Tell(message, Ref);

    /// <summary>Answers the sender of the last message taken.</summary>
    public void Reply(object message) => LastSender.Tell(message, Ref);

    /// <summary>Watches <paramref name="actor"/>: its <see cref="Terminated"/> comes to this probe.</summary>
    public void Watch(IActorRef actor)
    {
        Ref.Tell(new WatchIt(actor));
        _kit.Drain();
    }

    /// <summary>Expects the <see cref="Terminated"/> of a watched <paramref name="actor"/> within <paramref name="within"/> of virtual time.</summary>
    public Terminated ExpectTerminated(IActorRef actor, TimeSpan within)
        => ExpectMsg<Terminated>(within, t => t.ActorRef.Equals(actor));

    private ReceivedMessage? Next(TimeSpan within)
    {
        if (_refused > 0)
            throw new VirtualTimeExpectationException($"{Ref.Path.Name}: {_refused} messages were refused once {MaxPending} were pending; take them as they come");
        if (_queue.Count == 0) _kit.RunUntil(() => _queue.Count > 0, within);
        if (!_queue.TryDequeue(out var received)) return null;
        Take(received, null);
        return received;
    }

    private void Take(ReceivedMessage received, List<ReceivedMessage>? into)
    {
        LastSender = received.Sender;
        LastReceived = received;
        into?.Add(received);
    }

    private sealed record WatchIt(IActorRef Actor);

    /// <summary>Records every message; runs on the loop's thread, so the queue needs no lock.</summary>
    private sealed class Recorder : UntypedActor
    {
        private readonly VirtualProbe _probe;
        private readonly VirtualTimeTestKit _kit;

        public Recorder(VirtualProbe probe, VirtualTimeTestKit kit)
        {
            _probe = probe;
            _kit = kit;
        }

        protected override void OnReceive(object message)
        {
            if (message is WatchIt w)
            {
                Context.Watch(w.Actor);
                return;
            }
            if (_probe._queue.Count >= MaxPending) _probe._refused++;
            else _probe._queue.Enqueue(new ReceivedMessage(message, Sender, _kit.Now));
        }
    }
}
