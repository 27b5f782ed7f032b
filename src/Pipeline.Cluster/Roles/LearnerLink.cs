using Akka.Actor;
using Akka.Event;
using Pipeline.Runtime.Protocol;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// A node's local stand-in for one actor that lives on another node's singleton (the replay buffer, the critic labeller,
/// the learner node's weights bridge). It forwards every message with its sender kept, so replies go straight back to
/// the asker. It finds its target on the oldest Up member with its role (<c>learner</c>, <c>buffer</c>, <c>rm-trainer</c>:
/// where that role's singleton lives) with <see cref="Identify"/>, watches it, and when the target dies (the singleton moved, the node was downed) it
/// looks again every <c>retry</c>; meanwhile messages wait in a bounded queue (oldest dropped and counted when full).
/// When it re-attaches to a new target and <c>announce</c> is set it publishes <see cref="UpstreamChanged"/> on the
/// node's EventStream, so generators ask the new buffer for credits instead of waiting on the old one.
/// What the old target knew and its successor must hear again, the link re-sends itself: the newest
/// <see cref="PolicyVersionAdvanced"/> it carried and a <see cref="RequestBatch"/> not yet answered (it carries the request
/// as its own, so it sees the <see cref="TrainingBatch"/> that answers it and hands that to the asker).
/// </summary>
public sealed class LearnerLink : ReceiveActor, IWithTimers
{
    /// <summary>What a link carried: annotated groups forwarded, messages dropped while detached, re-attachments.</summary>
    public sealed class Counter
    {
        private long _groups, _dropped, _attached;
        public long Groups => Interlocked.Read(ref _groups);
        public long Dropped => Interlocked.Read(ref _dropped);
        public long Attached => Interlocked.Read(ref _attached);
        internal void Group() => Interlocked.Increment(ref _groups);
        internal void Drop() => Interlocked.Increment(ref _dropped);
        internal void Attach() => Interlocked.Increment(ref _attached);
    }

    private sealed class Resolve { public static readonly Resolve Instance = new(); }

    private readonly string _name;
    private readonly string[] _path;
    private readonly string _role;
    private readonly Counter _counter;
    private readonly int _capacity;
    private readonly TimeSpan _retry;
    private readonly bool _announce;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<(object Message, IActorRef Sender)> _pending = new();
    private IActorRef? _target;
    private long _identifyId;
    private bool _everAttached;
    private PolicyVersionAdvanced? _version;
    private (RequestBatch Request, IActorRef Asker)? _request;
    private IActorRef? _asker;

    public ITimerScheduler Timers { get; set; } = null!;

    public LearnerLink(string name, string[] path, string role, Counter counter, int capacity, TimeSpan retry, bool announce)
    {
        _name = name;
        _path = path;
        _role = role;
        _counter = counter;
        _capacity = capacity;
        _retry = retry;
        _announce = announce;
        Receive<Resolve>(_ => Identify());
        Receive<ActorIdentity>(Attach);
        Receive<Terminated>(t =>
        {
            // A learner that stopped waits for nothing: its request must not draw a batch from the next buffer.
            if (_request is { } r && t.ActorRef.Equals(r.Asker)) _request = null;
            if (!t.ActorRef.Equals(_target)) return;
            _log.Warning("{0} at {1} is gone ({2}); looking for its successor", _name, t.ActorRef.Path,
                t.AddressTerminated ? "its node left or was downed" : "it stopped");
            _target = null;
            StartResolving();
        });
        Receive<TrainingBatch>(Answered);
        ReceiveAny(Forward);
    }

    /// <param name="name">What the target is, for logs ("buffer").</param>
    /// <param name="path">Path elements of the target under its node's root, e.g. ["user", "buffer", "host", "buffer"].</param>
    /// <param name="role">The role whose oldest Up member holds the target (default <c>learner</c>).</param>
    public static Props Props(string name, string[] path, Counter? counter = null, int capacity = 1024, TimeSpan? retry = null, bool announce = false,
        string role = ClusterRoles.Learner)
        => Akka.Actor.Props.Create(() => new LearnerLink(name, path, role, counter ?? new Counter(), capacity, retry ?? TimeSpan.FromMilliseconds(500), announce));

    protected override void PreStart() => StartResolving();

    private void StartResolving()
    {
        Self.Tell(Resolve.Instance);
        Timers.StartPeriodicTimer("resolve", Resolve.Instance, _retry);
    }

    private void Identify()
    {
        if (_target is not null) { Timers.Cancel("resolve"); return; }
        var cluster = AkkaCluster.Get(Context.System);
        var state = cluster.State;
        var holder = state.Members
            .Where(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(_role) && !state.Unreachable.Contains(m))
            .OrderBy(m => m, Akka.Cluster.Member.AgeOrdering).FirstOrDefault();
        if (holder is null) return;
        var path = _path.Aggregate((ActorPath)new RootActorPath(holder.Address), (p, e) => p / e);
        Context.ActorSelection(path).Tell(new Identify(++_identifyId));
    }

    private void Attach(ActorIdentity identity)
    {
        if (_target is not null || identity.Subject is not { } subject || !Equals(identity.MessageId, _identifyId)) return;
        _target = subject;
        Context.Watch(subject);
        Timers.Cancel("resolve");
        _counter.Attach();
        _log.Info("{0}: attached to {1} ({2} messages waiting)", _name, subject.Path, _pending.Count);
        if (_everAttached && _announce) Context.System.EventStream.Publish(new UpstreamChanged(_name));
        if (_everAttached) Resend(subject);
        _everAttached = true;
        while (_pending.TryDequeue(out var p)) subject.Tell(p.Message, p.Sender);
    }

    /// <summary>A new target never heard what the old one was told: the version it must serve at and the batch the learner waits for.</summary>
    private void Resend(IActorRef subject)
    {
        bool Waiting(object message) => _pending.Any(p => ReferenceEquals(p.Message, message));
        if (_version is { } version && !Waiting(version)) subject.Tell(version, Self);
        if (_request is { } request && !Waiting(request.Request))
        {
            _log.Warning("{0} was replaced while batch request {1} waited: asking the new one", _name, request.Request.RequestId);
            subject.Tell(request.Request, Self);
        }
    }

    /// <summary>The target's answer to a batch request this link carried: the request is settled and the asker gets the batch.</summary>
    private void Answered(TrainingBatch batch)
    {
        if (_request is { } request && request.Request.RequestId == batch.RequestId) _request = null;
        _asker?.Forward(batch);
    }

    private void Forward(object message)
    {
        if (message is AnnotatedGroup) _counter.Group();
        var sender = Sender;
        if (message is PolicyVersionAdvanced version && (_version is null || version.Version >= _version.Version)) _version = version;
        if (message is RequestBatch request)
        {
            _request = (request, Sender);
            _asker = Sender;
            if (!Sender.IsNobody()) Context.Watch(Sender);
            sender = Self;  // the answer comes through here, so the link knows the request is settled
        }
        if (_target is { } target)
        {
            target.Tell(message, sender);
            return;
        }
        if (_pending.Count >= _capacity)
        {
            var (dropped, _) = _pending.Dequeue();
            _counter.Drop();
            _log.Warning("{0} unreachable and {1} messages waiting: dropped the oldest ({2})", _name, _capacity, dropped.GetType().Name);
        }
        _pending.Enqueue((message, sender));
    }
}
