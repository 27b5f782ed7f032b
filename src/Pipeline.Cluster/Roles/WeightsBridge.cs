using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// Carries <see cref="PolicyWeights"/> between a node's local EventStream (where the Learner publishes and the
/// Generators subscribe, as in local mode) and the cluster-wide distributed pub-sub topic
/// <see cref="ClusterRoles.WeightsTopic"/>. One bridge per node, whatever its roles: a version newer than the newest it
/// has seen goes to the other side; an older or equal one is ignored, which also stops the bridge's own echoes
/// (it is subscribed to both sides) from looping.
/// While it has seen no weights yet and knows the learner, it asks the learner for the newest ones every
/// <c>retry</c>, so a generator node that subscribed after the first publication still starts.
/// </summary>
public sealed class WeightsBridge : ReceiveActor, IWithTimers
{
    private sealed class AskLatest { public static readonly AskLatest Instance = new(); }

    /// <summary>What a node's bridge carried: versions that came in over the topic, and versions it published to it.</summary>
    public sealed class Counter
    {
        private long _fromTopic, _toTopic, _newest = -1;
        public long FromTopic => Interlocked.Read(ref _fromTopic);
        public long ToTopic => Interlocked.Read(ref _toTopic);
        public long NewestVersion => Interlocked.Read(ref _newest);
        internal void Seen(long version, bool fromTopic)
        {
            Interlocked.Exchange(ref _newest, version);
            if (fromTopic) Interlocked.Increment(ref _fromTopic); else Interlocked.Increment(ref _toTopic);
        }
    }

    private readonly IActorRef _mediator;
    private readonly IActorRef? _learner;
    private readonly TimeSpan _retry;
    private readonly Counter _counter;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _newest = -1;

    public ITimerScheduler Timers { get; set; } = null!;

    public WeightsBridge(IActorRef mediator, IActorRef? learner, TimeSpan retry, Counter counter)
    {
        _counter = counter;
        _mediator = mediator;
        _learner = learner;
        _retry = retry;
        Receive<PolicyWeights>(Handle);
        Receive<SubscribeAck>(_ => _log.Debug("weights bridge subscribed to '{0}'", ClusterRoles.WeightsTopic));
        Receive<AskLatest>(_ =>
        {
            if (_newest >= 0) { Timers.Cancel("ask"); return; }
            _learner?.Tell(RequestLatestWeights.Instance);
        });
    }

    public static Props Props(IActorRef mediator, IActorRef? learner, Counter? counter = null, TimeSpan? retry = null)
        => Akka.Actor.Props.Create(() => new WeightsBridge(mediator, learner, retry ?? TimeSpan.FromSeconds(1), counter ?? new Counter()));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(PolicyWeights));
        _mediator.Tell(new Subscribe(ClusterRoles.WeightsTopic, Self));
        if (_learner is not null) Timers.StartPeriodicTimer("ask", AskLatest.Instance, _retry);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Handle(PolicyWeights weights)
    {
        if (weights.Version <= _newest) return;
        _newest = weights.Version;
        // A copy from the topic comes from another node's bridge (the mediator keeps the publisher as sender).
        var fromTopic = !Sender.Equals(Self) && Sender.Path.Name == ClusterRoles.BridgeName && Sender.Path.Address != Self.Path.Address
            && Sender.Path.Address.HasGlobalScope;
        _counter.Seen(weights.Version, fromTopic);
        // The local EventStream gets it (generators on this node) and so does the topic (every other node). Whichever
        // side it came from, the copy that comes back is not newer and stops here.
        Context.System.EventStream.Publish(weights);
        _mediator.Tell(new Publish(ClusterRoles.WeightsTopic, weights));
    }
}
