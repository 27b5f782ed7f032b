using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Pipeline.Runtime.Protocol;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// A generator-only node's way to the annotator nodes: each <see cref="GeneratedGroup"/> goes to the next reachable Up
/// member with the role annotator (round robin, to its <c>/user/annotation</c> stage), with the generator kept as sender.
/// It remembers which node got each recent group, and when that node is removed from the cluster (it died and was
/// downed) it releases those groups' credits at the buffer as <c>annotator's node lost</c>, so their prompts are re-issued
/// at once instead of when the credits expire. A release for a group the annotator had already delivered is a no-op at
/// the buffer (its credit is no longer outstanding). With no annotator node reachable a group's credit is released at once.
/// </summary>
public sealed class AnnotatorRelay : ReceiveActor
{
    /// <summary>How many recent groups' destinations are remembered (far more than can be in flight: credits are bounded by admission).</summary>
    private const int Remembered = 4096;

    private readonly IActorRef _buffer;
    private readonly LearnerLink.Counter _counter;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly AkkaCluster _cluster = AkkaCluster.Get(Context.System);
    private readonly List<Address> _annotators = [];
    private readonly HashSet<Address> _unreachable = [];
    private readonly Dictionary<long, Address> _sentTo = new();
    private readonly Queue<long> _order = new();
    private int _next;

    public AnnotatorRelay(IActorRef buffer, LearnerLink.Counter counter)
    {
        _buffer = buffer;
        _counter = counter;
        Receive<GeneratedGroup>(Relay);
        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            foreach (var m in state.Members.Where(m => m.Status == MemberStatus.Up)) Add(m);
            foreach (var m in state.Unreachable) _unreachable.Add(m.Address);
        });
        Receive<ClusterEvent.MemberUp>(up => Add(up.Member));
        Receive<ClusterEvent.UnreachableMember>(u => _unreachable.Add(u.Member.Address));
        Receive<ClusterEvent.ReachableMember>(r => _unreachable.Remove(r.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(removed => Lost(removed.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public static Props Props(IActorRef buffer, LearnerLink.Counter counter) => Akka.Actor.Props.Create(() => new AnnotatorRelay(buffer, counter));

    protected override void PreStart()
        => _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Add(Member member)
    {
        if (member.HasRole(ClusterRoles.Annotator) && !_annotators.Contains(member.Address)) _annotators.Add(member.Address);
    }

    private void Relay(GeneratedGroup group)
    {
        var reachable = _annotators.Where(a => !_unreachable.Contains(a)).ToList();
        if (reachable.Count == 0)
        {
            _log.Warning("No annotator node reachable: releasing credit {0}", group.CreditId);
            _buffer.Tell(new CreditReleased(group.CreditId, "no annotator node reachable"));
            return;
        }
        var target = reachable[_next++ % reachable.Count];
        _counter.Group();
        Remember(group.CreditId, target);
        Context.ActorSelection(new RootActorPath(target) / "user" / ClusterRoles.AnnotationName).Tell(group, Sender);
    }

    private void Remember(long creditId, Address target)
    {
        _sentTo[creditId] = target;
        _order.Enqueue(creditId);
        while (_order.Count > Remembered) _sentTo.Remove(_order.Dequeue());
    }

    private void Lost(Address address)
    {
        _unreachable.Remove(address);
        if (!_annotators.Remove(address)) return;
        var lost = _sentTo.Where(kv => kv.Value == address).Select(kv => kv.Key).ToList();
        foreach (var id in lost)
        {
            _sentTo.Remove(id);
            _buffer.Tell(new CreditReleased(id, "annotator's node lost"));
        }
        _log.Warning("Annotator node {0} removed: released the credits of the {1} group(s) sent to it recently (already delivered ones are no-ops)", address, lost.Count);
    }
}
