using Akka.Actor;

namespace Pipeline.Testing;

/// <summary>
/// A forwarding actor put between two actors (<see cref="VirtualTimeTestKit.Interpose"/>): each message sent to
/// <see cref="Ref"/> reaches the target with its original sender, unless the <see cref="LinkRule"/> drops it or delays it on
/// the virtual clock. Replies go from the target straight to the sender: a link faults one direction; put a second link
/// in front of the sender for the other. The counters are read by the test after the loop ran.
/// </summary>
public sealed class FaultyLink
{
    /// <summary>Dropped messages kept for inspection; past it only <see cref="DroppedCount"/> grows.</summary>
    public const int MaxKeptDropped = 1000;

    private readonly List<object> _dropped = [];

    internal FaultyLink(ActorSystem system, IActorRef target, LinkRule rule, int seed, string name)
    {
        Target = target;
        Ref = system.ActorOf(Props.Create(() => new Forwarder(this, target, rule, new Random(seed))), name);
    }

    /// <summary>Send here instead of to the target.</summary>
    public IActorRef Ref { get; }

    public IActorRef Target { get; }

    /// <summary>Messages passed on at once.</summary>
    public long Forwarded { get; private set; }

    /// <summary>Messages passed on after a delay (counted when the link scheduled them).</summary>
    public long Delayed { get; private set; }

    public long DroppedCount { get; private set; }

    /// <summary>The first <see cref="MaxKeptDropped"/> messages dropped, in order.</summary>
    public IReadOnlyList<object> Dropped => _dropped;

    /// <summary>Runs on the loop's thread (one thread), so the counters need no lock.</summary>
    private sealed class Forwarder : UntypedActor
    {
        private readonly FaultyLink _link;
        private readonly IActorRef _target;
        private readonly LinkRule _rule;
        private readonly Random _rng;

        public Forwarder(FaultyLink link, IActorRef target, LinkRule rule, Random rng)
        {
            _link = link;
            _target = target;
            _rule = rule;
            _rng = rng;
        }

        protected override void OnReceive(object message)
        {
            var decision = _rule.Decide(message, _rng);
            if (decision.Drop)
            {
                _link.DroppedCount++;
                if (_link._dropped.Count < MaxKeptDropped) _link._dropped.Add(message);
            }
            else if (decision.Delay > TimeSpan.Zero)
            {
                _link.Delayed++;
                Context.System.Scheduler.ScheduleTellOnce(decision.Delay, _target, message, Sender);
            }
            else
            {
                _link.Forwarded++;
                _target.Tell(message, Sender);
            }
        }
    }
}
