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
/// A group whose id was already accepted is dropped as a duplicate (rollout ids are the group id plus an index), so a
/// group delivered twice is never trained twice. Every credit ends in exactly one way (a group accepted, released with a
/// reason, expired, or its generator died), every prompt of a lost credit is reported to the prompt source to be
/// re-issued once, and the whole ledger (<see cref="BufferLedger"/>) is written to <c>accounting.json</c> when a
/// <c>LedgerPath</c> is set: every second while it changes (so a buffer whose process is killed leaves its books at most a
/// second old) and when the buffer stops.
/// </summary>
public sealed class ReplayBuffer : ReceiveActor, IWithTimers
{
    public sealed record Settings(int BatchGroups, int MaxStaleness, int Capacity, long StartVersion, TimeSpan CreditTimeout)
    {
        /// <summary>Where the ledger is written when the buffer stops (null: not written).</summary>
        public string? LedgerPath { get; init; }

        /// <summary>DAPO dynamic sampling: drop groups without signal (all rewards equal) and grant a replacement credit.</summary>
        public bool DropUninformative { get; init; }

        /// <summary>With <see cref="DropUninformative"/>: drops allowed per served batch before such groups are taken anyway.</summary>
        public int MaxDropsPerBatch { get; init; } = 32;

        /// <summary>The clock credit deadlines are read from (a simulation's virtual clock; else the system's).</summary>
        public TimeProvider Clock { get; init; } = TimeProvider.System;

        /// <summary>The buffer of a run (local mode's and the cluster's buffer host alike).</summary>
        public static Settings For(Core.Configuration.PipelineSettings s, long startVersion, string? ledgerPath) =>
            new(s.Grpo.BatchGroups, s.Grpo.MaxStaleness, s.Buffer.Capacity, startVersion, s.Timeouts.Credit)
            {
                LedgerPath = ledgerPath,
                DropUninformative = s.Grpo.DynamicSampling,
                MaxDropsPerBatch = s.Grpo.DynamicSamplingMaxDrops,
            };
    }

    /// <summary>Asks the buffer for its <see cref="BufferLedger"/> (answered to the sender).</summary>
    public sealed class GetLedger { public static readonly GetLedger Instance = new(); }

    private sealed record Outstanding(IActorRef Generator, DateTime Deadline);
    private const int RememberedGroups = 1 << 16;
    private sealed class ExpireCredits { public static readonly ExpireCredits Instance = new(); }

    private readonly Settings _settings;
    private readonly AdmissionController _admission;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<AnnotatedGroup> _groups = new();
    private readonly Dictionary<long, Outstanding> _credits = new();
    private readonly Queue<IActorRef> _waitingGenerators = new();
    private (IActorRef Learner, RequestBatch Request)? _pendingBatch;
    private long _nextCreditId = 1;
    private string? _ledgerWritten;
    private long _droppedStale, _droppedLate, _expired, _released;
    private long _uninformative, _rolloutsUninformative, _dropsSinceServe;
    private long _granted, _groupsAccepted, _duplicates, _served, _rolloutsAccepted, _rolloutsServed, _rolloutsStale, _rolloutsLate, _rolloutsDuplicate;
    private readonly Dictionary<string, long> _releasedBy = new(StringComparer.Ordinal);
    private readonly HashSet<string> _acceptedIds = new(StringComparer.Ordinal);
    private readonly Queue<string> _acceptedOrder = new();
    private readonly IActorRef _prompts;

    public ITimerScheduler Timers { get; set; } = null!;

    public ReplayBuffer(Settings settings, IActorRef? prompts = null)
    {
        _settings = settings;
        _prompts = prompts ?? ActorRefs.Nobody;
        _admission = new AdmissionController(settings.BatchGroups, settings.MaxStaleness, settings.StartVersion);
        Receive<RequestCredit>(HandleRequestCredit);
        Receive<AnnotatedGroup>(HandleGroup);
        Receive<CreditReleased>(HandleReleased);
        Receive<RequestBatch>(HandleRequestBatch);
        Receive<PolicyVersionAdvanced>(HandleVersion);
        Receive<ExpireCredits>(_ =>
        {
            HandleExpire();
            WriteLedger(force: false);
        });
        Receive<Terminated>(HandleTerminated);
        Receive<GetLedger>(_ => Sender.Tell(Ledger()));
    }

    /// <param name="prompts">The prompt source, told how each credit ended (<see cref="PromptSettled"/>); null: nobody.</param>
    public static Props Props(Settings settings, IActorRef? prompts = null) => Akka.Actor.Props.Create(() => new ReplayBuffer(settings, prompts));

    protected override void PreStart()
        => Timers.StartPeriodicTimer("expire", ExpireCredits.Instance, TimeSpan.FromSeconds(1));

    protected override void PostStop() => WriteLedger(force: true);

    /// <summary>Writes the ledger when a path is set and (unless forced) something changed since the last write.</summary>
    private void WriteLedger(bool force)
    {
        if (_settings.LedgerPath is not { } path) return;
        var json = Ledger().ToJson();
        if (!force && json == _ledgerWritten) return;
        try
        {
            BufferLedger.WriteJson(path, json);
            _ledgerWritten = json;
        }
        catch (IOException e)
        {
            _log.Error(e, "Could not write the run's ledger to {0}", path);
        }
    }

    public BufferLedger Ledger() => new(_granted, _groupsAccepted, _rolloutsAccepted, _served, _rolloutsServed,
        _droppedStale, _rolloutsStale, _droppedLate, _rolloutsLate, _duplicates, _rolloutsDuplicate, _expired, _released,
        new SortedDictionary<string, long>(_releasedBy, StringComparer.Ordinal), _credits.Count, _groups.Count,
        _groups.Sum(g => (long)g.Group.Rollouts.Length))
    {
        CreditHolders = _credits.Values.Select(o => o.Generator.Path.ToString()).Distinct().Order(StringComparer.Ordinal).ToList(),
        GroupsDroppedUninformative = _uninformative,
        RolloutsDroppedUninformative = _rolloutsUninformative,
    };

    private void Settled(long creditId, bool lost) => _prompts.Tell(new PromptSettled(creditId, lost));

    private void CountRelease(string reason)
    {
        _released++;
        var colon = reason.IndexOf(':');
        var kind = colon > 0 ? reason[..colon] : reason;
        _releasedBy[kind] = _releasedBy.GetValueOrDefault(kind) + 1;
    }

    private void HandleRequestCredit(RequestCredit msg)
    {
        Context.Watch(Sender);
        if (!TryGrant(Sender) && !_waitingGenerators.Contains(Sender))
            _waitingGenerators.Enqueue(Sender); // at most one entry per generator: bounded by their number
    }

    private bool TryGrant(IActorRef generator)
    {
        if (_groups.Count + _admission.Running >= _settings.Capacity) return false;
        if (!_admission.TryGrant(out var minVersion)) return false;
        var id = _nextCreditId++;
        _granted++;
        _credits[id] = new Outstanding(generator, _settings.Clock.GetUtcNow().UtcDateTime + _settings.CreditTimeout);
        generator.Tell(new Credit(id, _admission.Version, minVersion));
        // The credit's prompt goes straight from the prompt source to the generator: one hop instead of a round trip.
        if (!_prompts.IsNobody()) _prompts.Tell(new RequestPrompt(generator.Path.Name, id), generator);
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
        var rollouts = group.Group.Rollouts.Length;
        if (_acceptedIds.Contains(group.Group.GroupId))
        {
            _duplicates++;
            _rolloutsDuplicate += rollouts;
            _log.Warning("Dropped group {0}: a duplicate of one already accepted", group.Group.GroupId);
            return;
        }
        if (!_credits.Remove(group.CreditId))
        {
            // Its credit expired or its generator was declared dead: the slot was already reopened.
            _droppedLate++;
            _rolloutsLate += rollouts;
            _log.Warning("Dropped group {0}: credit {1} is no longer outstanding", group.Group.GroupId, group.CreditId);
            return;
        }
        if (_settings.DropUninformative && _dropsSinceServe < _settings.MaxDropsPerBatch && !group.HasSignal())
        {
            // DAPO dynamic sampling: the prompt was used (not re-issued); its slot opens for a replacement group.
            _admission.OnReleased();
            _uninformative++;
            _rolloutsUninformative += rollouts;
            _dropsSinceServe++;
            Settled(group.CreditId, lost: false);
            GrantWaiting();
            return;
        }
        _acceptedIds.Add(group.Group.GroupId);
        _acceptedOrder.Enqueue(group.Group.GroupId);
        if (_acceptedOrder.Count > RememberedGroups) _acceptedIds.Remove(_acceptedOrder.Dequeue());
        _admission.OnAccepted();
        _groupsAccepted++;
        _rolloutsAccepted += rollouts;
        _groups.Enqueue(group);
        Settled(group.CreditId, lost: false);
        TryServe();
    }

    private void HandleReleased(CreditReleased msg)
    {
        if (!_credits.Remove(msg.CreditId)) return;
        _admission.OnReleased();
        CountRelease(msg.Reason);
        Settled(msg.CreditId, lost: true);
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
        _rolloutsStale += _groups.Sum(g => (long)g.Group.Rollouts.Length) - fresh.Sum(g => (long)g.Group.Rollouts.Length);
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
        _served += batch.Count;
        _dropsSinceServe = 0;
        _rolloutsServed += batch.Sum(g => (long)g.Group.Rollouts.Length);
        _pendingBatch = null;
        pending.Learner.Tell(new TrainingBatch(pending.Request.RequestId, batch.MoveToImmutable(), Stats()));
        GrantWaiting();
    }

    private BufferStats Stats() => new(_groups.Count, _admission.Accepted, _droppedStale, _droppedLate, _expired, _released,
        _admission.Capacity, _admission.Running) { DroppedUninformative = _uninformative };

    private void HandleExpire()
    {
        var now = _settings.Clock.GetUtcNow().UtcDateTime;
        foreach (var (id, o) in _credits.Where(kv => kv.Value.Deadline < now).ToList())
        {
            _credits.Remove(id);
            _admission.OnReleased();
            _expired++;
            Settled(id, lost: true);
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
            CountRelease(t.AddressTerminated ? "generator's node lost" : "generator stopped");
            Settled(id, lost: true);
            _log.Warning("Credit {0} released: its generator {1} {2}", id, t.ActorRef.Path,
                t.AddressTerminated ? "is on a node that left or was downed" : "stopped");
        }
        var rest = _waitingGenerators.Where(g => !g.Equals(t.ActorRef)).ToList();
        _waitingGenerators.Clear();
        foreach (var g in rest) _waitingGenerators.Enqueue(g);
        GrantWaiting();
    }
}

/// <summary>
/// The replay buffer's books for one run (or one buffer incarnation). Credits: every granted credit ends exactly once,
/// <c>CreditsGranted = GroupsAccepted + GroupsDroppedUninformative + CreditsReleased + CreditsExpired + CreditsOutstanding</c>. Groups: every accepted
/// group is served to the learner, dropped as stale, or still in the buffer,
/// <c>GroupsAccepted = GroupsServed + GroupsDroppedStale + GroupsInBuffer</c> (the same for rollouts). Groups that arrived
/// after their credit ended (late) or twice (duplicate) are counted apart and never trained.
/// </summary>
public sealed record BufferLedger(
    long CreditsGranted, long GroupsAccepted, long RolloutsAccepted, long GroupsServed, long RolloutsServed,
    long GroupsDroppedStale, long RolloutsDroppedStale, long GroupsDroppedLate, long RolloutsDroppedLate,
    long GroupsDroppedDuplicate, long RolloutsDroppedDuplicate, long CreditsExpired, long CreditsReleased,
    IReadOnlyDictionary<string, long> CreditsReleasedBy, long CreditsOutstanding, long GroupsInBuffer, long RolloutsInBuffer)
{
    /// <summary>The generators (actor paths, with their node's address) holding the outstanding credits.</summary>
    public IReadOnlyList<string> CreditHolders { get; init; } = [];

    /// <summary>Groups that ended their credit but were dropped by dynamic sampling (all rewards equal), and their rollouts.</summary>
    public long GroupsDroppedUninformative { get; init; }

    public long RolloutsDroppedUninformative { get; init; }

    /// <summary>Both identities hold.</summary>
    public bool Balanced =>
        CreditsGranted == GroupsAccepted + GroupsDroppedUninformative + CreditsReleased + CreditsExpired + CreditsOutstanding
        && GroupsAccepted == GroupsServed + GroupsDroppedStale + GroupsInBuffer
        && RolloutsAccepted == RolloutsServed + RolloutsDroppedStale + RolloutsInBuffer;

    private static readonly System.Text.Json.JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
    };

    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, Json);

    public static void Write(string path, BufferLedger ledger) => WriteJson(path, ledger.ToJson());

    /// <summary>Writes <paramref name="json"/> (a <see cref="ToJson"/>) to <paramref name="path"/> atomically.</summary>
    public static void WriteJson(string path, string json)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp";  // two incarnations (a hand-over) never share one
        File.WriteAllText(tmp, json);
        File.Move(tmp, path, overwrite: true);
    }

    public static BufferLedger? Read(string path)
        => File.Exists(path) ? System.Text.Json.JsonSerializer.Deserialize<BufferLedger>(File.ReadAllText(path), Json) : null;
}
