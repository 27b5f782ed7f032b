using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Admission;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Holds annotated groups for the learner and grants generation credits (AReaL's staleness-bounded admission).
/// Bounded twice: admission keeps at most (eta + v + 1) * B groups alive, and <c>capacity</c> is a hard cap.
/// Groups older than eta versions at serving time are dropped and counted, never trained on.
/// </summary>
public sealed class ReplayBuffer : ReceiveActor, IWithTimers
{
    public sealed record Settings(int BatchGroups, int MaxStaleness, int Capacity, long StartVersion, TimeSpan CreditTimeout);

    private sealed record Outstanding(IActorRef Generator, DateTime Deadline);
    private sealed class ExpireCredits { public static readonly ExpireCredits Instance = new(); }

    private readonly Settings _settings;
    private readonly AdmissionController _admission;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<AnnotatedGroup> _groups = new();
    private readonly Dictionary<long, Outstanding> _credits = new();
    private readonly Queue<IActorRef> _waitingGenerators = new();
    private (IActorRef Learner, RequestBatch Request)? _pendingBatch;
    private long _nextCreditId = 1;
    private long _droppedStale, _droppedLate, _expired, _released;

    public ITimerScheduler Timers { get; set; } = null!;

    public ReplayBuffer(Settings settings)
    {
        _settings = settings;
        _admission = new AdmissionController(settings.BatchGroups, settings.MaxStaleness, settings.StartVersion);
        Receive<RequestCredit>(HandleRequestCredit);
        Receive<AnnotatedGroup>(HandleGroup);
        Receive<CreditReleased>(HandleReleased);
        Receive<RequestBatch>(HandleRequestBatch);
        Receive<PolicyVersionAdvanced>(HandleVersion);
        Receive<ExpireCredits>(_ => HandleExpire());
        Receive<Terminated>(HandleTerminated);
    }

    public static Props Props(Settings settings) => Akka.Actor.Props.Create(() => new ReplayBuffer(settings));

    protected override void PreStart()
        => Timers.StartPeriodicTimer("expire", ExpireCredits.Instance, TimeSpan.FromSeconds(1));

    private void HandleRequestCredit(RequestCredit msg)
    {
        Context.Watch(Sender);
        if (!TryGrant(Sender) && !_waitingGenerators.Contains(Sender))
            _waitingGenerators.Enqueue(Sender); // at most one entry per generator: bounded by their number
    }

    private bool TryGrant(IActorRef generator)
    {
        if (_groups.Count + _admission.Running >= _settings.Capacity) return false;
        if (!_admission.TryGrant()) return false;
        var id = _nextCreditId++;
        _credits[id] = new Outstanding(generator, DateTime.UtcNow + _settings.CreditTimeout);
        generator.Tell(new Credit(id, _admission.Version));
        return true;
    }

    private void GrantWaiting()
    {
        while (_waitingGenerators.Count > 0)
        {
            var next = _waitingGenerators.Peek();
            if (!TryGrant(next)) return;
            _waitingGenerators.Dequeue();
        }
    }

    private void HandleGroup(AnnotatedGroup group)
    {
        if (!_credits.Remove(group.CreditId))
        {
            // Its credit expired or its generator was declared dead: the slot was already reopened.
            _droppedLate++;
            _log.Warning("Dropped group {0}: credit {1} is no longer outstanding", group.Group.GroupId, group.CreditId);
            return;
        }
        _admission.OnAccepted();
        _groups.Enqueue(group);
        TryServe();
    }

    private void HandleReleased(CreditReleased msg)
    {
        if (!_credits.Remove(msg.CreditId)) return;
        _admission.OnReleased();
        _released++;
        _log.Warning("Credit {0} released: {1}", msg.CreditId, msg.Reason);
        GrantWaiting();
    }

    private void HandleRequestBatch(RequestBatch request)
    {
        _pendingBatch = (Sender, request);
        TryServe();
    }

    private void HandleVersion(PolicyVersionAdvanced msg)
    {
        _admission.OnVersion(msg.Version);
        DropStale(msg.Version);
        GrantWaiting();
    }

    private void DropStale(long learnerVersion)
    {
        var kept = _groups.Count;
        var fresh = _groups.Where(g => learnerVersion - g.Group.PolicyVersion <= _settings.MaxStaleness).ToList();
        var dropped = kept - fresh.Count;
        if (dropped == 0) return;
        _groups.Clear();
        foreach (var g in fresh) _groups.Enqueue(g);
        for (var i = 0; i < dropped; i++) _admission.OnDiscardedAfterAcceptance();
        _droppedStale += dropped;
        _log.Info("Dropped {0} groups older than {1} versions at learner version {2}", dropped, _settings.MaxStaleness, learnerVersion);
    }

    private void TryServe()
    {
        if (_pendingBatch is not { } pending) return;
        DropStale(pending.Request.LearnerVersion);
        if (_groups.Count < pending.Request.Groups) { GrantWaiting(); return; }
        var batch = ImmutableArray.CreateBuilder<AnnotatedGroup>(pending.Request.Groups);
        for (var i = 0; i < pending.Request.Groups; i++) batch.Add(_groups.Dequeue());
        _pendingBatch = null;
        pending.Learner.Tell(new TrainingBatch(pending.Request.RequestId, batch.MoveToImmutable(), Stats()));
        GrantWaiting();
    }

    private BufferStats Stats() => new(_groups.Count, _admission.Accepted, _droppedStale, _droppedLate, _expired, _released,
        _admission.Capacity, _admission.Running);

    private void HandleExpire()
    {
        var now = DateTime.UtcNow;
        foreach (var (id, o) in _credits.Where(kv => kv.Value.Deadline < now).ToList())
        {
            _credits.Remove(id);
            _admission.OnReleased();
            _expired++;
            _log.Warning("Credit {0} of {1} expired without a group", id, o.Generator.Path.Name);
        }
        GrantWaiting();
    }

    private void HandleTerminated(Terminated t)
    {
        foreach (var (id, _) in _credits.Where(kv => kv.Value.Generator.Equals(t.ActorRef)).ToList())
        {
            _credits.Remove(id);
            _admission.OnReleased();
            _released++;
        }
        var rest = _waitingGenerators.Where(g => !g.Equals(t.ActorRef)).ToList();
        _waitingGenerators.Clear();
        foreach (var g in rest) _waitingGenerators.Enqueue(g);
        GrantWaiting();
    }
}
