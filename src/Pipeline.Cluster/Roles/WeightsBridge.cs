using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// Carries <see cref="PolicyWeights"/> between a node's local EventStream (where the Learner publishes and the
/// Generators subscribe, as in local mode) and the cluster-wide distributed pub-sub topic <see cref="ClusterRoles.WeightsTopic"/>.
/// One bridge per node, whatever its roles.
/// <list type="bullet">
/// <item>Weights that appear on the local EventStream newer than any seen (the learner on this node published them) are
/// kept, and their version is announced on the topic (<see cref="WeightsAvailable"/>: a few bytes).</item>
/// <item>A node that hears of a version newer than its own pulls the newest weights from the learner node's bridge
/// (<c>upstream</c>, through a <see cref="LearnerLink"/>), one pull at a time. The version comes back as a stream
/// (<see cref="WeightStreamStart"/>, <see cref="WeightChunk"/>s of <c>chunkBytes</c> in each tensor's own dtype, never a
/// frame over <c>maximum-frame-size</c>, <see cref="WeightStreamEnd"/> with a SHA-256), read by a
/// <see cref="WeightStreamSender"/> straight from the learner's tensors one chunk at a time: the next chunk leaves only
/// when the receiver acknowledged the last, so the learner node holds one chunk per receiver and no copy of the model.
/// A <see cref="WeightStreamReceiver"/> stages it in a file and, once whole and checksum-verified, publishes it on the
/// node's EventStream, where the generators copy it into their tensors in place. A node that fell behind skips straight
/// to the newest version. A transfer that stalls past <c>stallTimeout</c>, fails its checksum or is aborted by the
/// sender (the learner moved on mid-stream), or a pull that gets no chunk within it, is abandoned and pulled again.</item>
/// <item>The learner node's bridge also re-announces its newest version every <c>reannounce</c>. A node whose pub-sub
/// subscription had not yet reached the learner node's mediator when a version was announced (subscriptions spread by
/// gossip) would otherwise never hear of it; and since the learner publishes only when it steps, and it steps only on
/// groups fresh enough to train, a generator node stuck on an old version stalled the whole run, its groups all dropped
/// as stale in a loop (seen in CI: ~10,000 stale groups while the learner waited at version 2).</item>
/// <item>A generator node's bridge also asks the learner node's bridge every <c>versionCheck</c> (500 ms) which version it
/// holds (<see cref="WeightsVersionQuery"/>, a few bytes each way, answered with a <see cref="WeightsAvailable"/>), so it
/// catches up even if no announcement reaches it: a node that joined as the run started can take seconds before the
/// gossip brings its subscription to the learner node, and a short run was over before a 2 s check came (seen in CI:
/// one of two generator nodes stuck on its first weights for the whole 4-s run of ThreeNodeRunSpec).</item>
/// <item>A local generator that holds a credit for newer weights than this node has says so (<see cref="NewerWeightsWanted"/>),
/// and the bridge asks the learner node's bridge which version it holds at once.</item>
/// <item><see cref="RequestLatestWeights"/> from a local actor (a generator that started late) is answered with the newest
/// weights this node holds (no serialization); from another node's bridge, with the newest weights in chunks sent to it.
/// While it holds no weights and knows an upstream it asks every <c>retry</c>.</item>
/// </list>
/// (An earlier version pushed every chunk of every version over pub-sub; under load some versions never reached some
/// nodes, and their generators produced groups the buffer then dropped as stale.)
/// </summary>
public sealed class WeightsBridge : ReceiveActor, IWithTimers
{
    private sealed class AskLatest { public static readonly AskLatest Instance = new(); }
    private sealed class Expire { public static readonly Expire Instance = new(); }
    private sealed class Reannounce { public static readonly Reannounce Instance = new(); }
    private sealed class CheckVersion { public static readonly CheckVersion Instance = new(); }

    /// <summary>Streams served at once by the learner node's bridge; a pull beyond it is refused (the node asks again).</summary>
    private const int MaxStreams = 32;

    /// <summary>What a node's bridge carried: versions that came in over the topic, versions it published, failed transfers, chunk bytes in flight.</summary>
    public sealed class Counter
    {
        private long _fromTopic, _toTopic, _newest = -1, _failed, _chunksIn, _chunksOut, _bytesOut, _inFlight, _inFlightPeak;
        public long FromTopic => Interlocked.Read(ref _fromTopic);
        public long ToTopic => Interlocked.Read(ref _toTopic);
        public long NewestVersion => Interlocked.Read(ref _newest);
        public long FailedTransfers => Interlocked.Read(ref _failed);
        public long ChunksReceived => Interlocked.Read(ref _chunksIn);
        public long ChunksSent => Interlocked.Read(ref _chunksOut);
        /// <summary>Data bytes of all chunks sent (per receiver: a version's bytes each).</summary>
        public long BytesSent => Interlocked.Read(ref _bytesOut);
        /// <summary>Most chunk data bytes this bridge had sent and not yet seen acknowledged, over all receivers at once.</summary>
        public long InFlightBytesPeak => Interlocked.Read(ref _inFlightPeak);
        internal void Seen(long version, bool fromTopic)
        {
            Interlocked.Exchange(ref _newest, version);
            if (fromTopic) Interlocked.Increment(ref _fromTopic); else Interlocked.Increment(ref _toTopic);
        }
        internal void Failed() => Interlocked.Increment(ref _failed);
        internal void Chunk() => Interlocked.Increment(ref _chunksIn);
        internal void Sent(int bytes)
        {
            Interlocked.Increment(ref _chunksOut);
            Interlocked.Add(ref _bytesOut, bytes);
            var now = Interlocked.Add(ref _inFlight, bytes);
            long peak;
            while (now > (peak = Interlocked.Read(ref _inFlightPeak)) && Interlocked.CompareExchange(ref _inFlightPeak, now, peak) != peak) { }
        }
        internal void Landed(int bytes) => Interlocked.Add(ref _inFlight, -bytes);
    }

    private sealed class Outgoing(IActorRef to, WeightStreamSender sender)
    {
        public readonly IActorRef To = to;
        public readonly WeightStreamSender Sender = sender;
        public int InFlightBytes;
    }

    private readonly IActorRef _mediator;
    private readonly IActorRef? _upstream;
    private readonly TimeSpan _retry;
    private readonly TimeSpan _reannounce;
    private readonly TimeSpan _versionCheck;
    private readonly TimeSpan _stallTimeout;
    private readonly int _chunkBytes;
    private readonly Counter _counter;
    private readonly WeightStreamReceiver _receiver;
    private readonly Dictionary<string, Outgoing> _outgoing = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private PolicyWeights? _latest;
    private StagedWeights? _staged;
    private long _newest = -1;
    private long _announced = -1;
    private DateTimeOffset? _pullSince;

    public ITimerScheduler Timers { get; set; } = null!;

    public WeightsBridge(IActorRef mediator, IActorRef? upstream, Counter counter, TimeSpan retry, TimeSpan stallTimeout, int chunkBytes,
        TimeSpan reannounce, TimeSpan versionCheck)
    {
        _reannounce = reannounce;
        _versionCheck = versionCheck;
        _counter = counter;
        _mediator = mediator;
        _upstream = upstream;
        _retry = retry;
        _stallTimeout = stallTimeout;
        _chunkBytes = chunkBytes;
        _receiver = new WeightStreamReceiver(stallTimeout);
        Receive<PolicyWeights>(FromEventStream);
        Receive<WeightStreamStart>(StreamStarted);
        Receive<WeightChunk>(ChunkArrived);
        Receive<WeightStreamEnd>(StreamEnded);
        Receive<WeightStreamAbort>(abort => Outcome(_receiver.Abort(abort)));
        Receive<WeightChunkAck>(Acknowledged);
        Receive<WeightsAvailable>(Announced);
        Receive<RequestLatestWeights>(_ => AnswerLatest());
        // Learner node: which version do you hold? (a generator node's safety net under the announcements)
        Receive<WeightsVersionQuery>(_ =>
        {
            if (_latest is not null) Sender.Tell(new WeightsAvailable(_latest.Version));
        });
        Receive<CheckVersion>(_ => _upstream?.Tell(WeightsVersionQuery.Instance));
        // A generator here waits for newer weights than this node holds: ask the learner node now.
        Receive<NewerWeightsWanted>(wanted =>
        {
            if (wanted.Version > _newest) _upstream?.Tell(WeightsVersionQuery.Instance);
        });
        Receive<Reannounce>(_ =>
        {
            if (_latest is not null) _mediator.Tell(new Publish(ClusterRoles.WeightsTopic, new WeightsAvailable(_latest.Version)));
        });
        Receive<SubscribeAck>(_ => _log.Debug("weights bridge subscribed to '{0}'", ClusterRoles.WeightsTopic));
        Receive<AskLatest>(_ =>
        {
            if (_newest >= 0) { Timers.Cancel("ask"); return; }
            if (_receiver.InFlight == 0) Pull();  // nothing coming yet (the learner may have had no weights when asked)
        });
        Receive<Expire>(_ =>
        {
            var now = DateTimeOffset.UtcNow;
            if (_receiver.Expire(now) is { } failure) Abandoned(failure.TransferId, failure.Version, failure.Reason ?? "stalled");
            foreach (var (id, o) in _outgoing.ToArray())
                if (now - o.Sender.LastProgress > _stallTimeout) Close(id, $"no acknowledgement for {_stallTimeout.TotalSeconds:0.#} s");
            var pullTimeout = _stallTimeout < TimeSpan.FromSeconds(10) ? _stallTimeout : TimeSpan.FromSeconds(10);
            if (_pullSince is { } since && _receiver.InFlight == 0 && now - since > pullTimeout)
            {
                _log.Warning("no weight stream within {0:0.#} s of asking for v{1}; asking again", pullTimeout.TotalSeconds, _announced);
                Pull();
            }
        });
    }

    /// <param name="upstream">Where to ask for the newest weights (the learner node's bridge); null on the learner node.</param>
    public static Props Props(IActorRef mediator, IActorRef? upstream, Counter? counter = null, TimeSpan? retry = null,
        TimeSpan? stallTimeout = null, int chunkBytes = WeightTransfer.DefaultChunkBytes, TimeSpan? reannounce = null, TimeSpan? versionCheck = null)
        => Akka.Actor.Props.Create(() => new WeightsBridge(mediator, upstream, counter ?? new Counter(), retry ?? TimeSpan.FromMilliseconds(250),
            stallTimeout ?? TimeSpan.FromSeconds(10), chunkBytes, reannounce ?? TimeSpan.FromSeconds(1), versionCheck ?? TimeSpan.FromMilliseconds(500)));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(PolicyWeights));
        _mediator.Tell(new Subscribe(ClusterRoles.WeightsTopic, Self));
        if (_upstream is not null)
        {
            Timers.StartPeriodicTimer("ask", AskLatest.Instance, _retry);
            Timers.StartPeriodicTimer("check-version", CheckVersion.Instance, _versionCheck);
        }
        else Timers.StartPeriodicTimer("reannounce", Reannounce.Instance, _reannounce);
        Timers.StartPeriodicTimer("expire", Expire.Instance, TimeSpan.FromSeconds(1));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        foreach (var id in _outgoing.Keys.ToArray()) Close(id, "bridge stopped");
        _receiver.Dispose();
        _staged?.Dispose();
    }

    /// <summary>The local learner published (or this bridge's own echo, which is not newer).</summary>
    private void FromEventStream(PolicyWeights weights)
    {
        if (weights.Version <= _newest) return;
        Keep(weights, fromTopic: false);
        _mediator.Tell(new Publish(ClusterRoles.WeightsTopic, new WeightsAvailable(weights.Version)));
    }

    /// <summary>A version exists on the learner node: pull it unless we hold it or a pull is under way.</summary>
    private void Announced(WeightsAvailable available)
    {
        if (available.Version <= _newest) return;  // ours (the learner node hears its own announcements), or already held
        _announced = Math.Max(_announced, available.Version);
        if (_pullSince is null || _receiver.InFlight == 0) Pull();
    }

    private void Pull()
    {
        if (_upstream is null) return;
        _pullSince = DateTimeOffset.UtcNow;
        _upstream.Tell(RequestLatestWeights.Instance);
    }

    private void StreamStarted(WeightStreamStart start)
    {
        if (start.Version <= _newest)
        {
            Sender.Tell(new WeightStreamAbort(start.TransferId, $"v{start.Version} is not newer than v{_newest}, held here"));
            return;
        }
        Outcome(_receiver.Begin(start, DateTimeOffset.UtcNow));
    }

    private void ChunkArrived(WeightChunk chunk)
    {
        _counter.Chunk();
        var result = _receiver.Add(chunk, DateTimeOffset.UtcNow);
        if (result.Outcome == WeightChunkOutcome.Accepted) Sender.Tell(new WeightChunkAck(chunk.TransferId, chunk.Index));
        else Outcome(result);
    }

    private void StreamEnded(WeightStreamEnd end) => Outcome(_receiver.End(end, DateTimeOffset.UtcNow, _stallTimeout));

    private void Outcome(WeightStreamResult result)
    {
        switch (result.Outcome)
        {
            case WeightChunkOutcome.Completed when result.Staged is { } staged && staged.Version > _newest:
                var previous = _staged;
                _staged = staged;
                var weights = new PolicyWeights(staged);
                Keep(weights, fromTopic: true);
                Context.System.EventStream.Publish(weights);
                previous?.Dispose();  // waits for a generator still copying it (bounded), then deletes its file
                _pullSince = null;
                if (_announced > _newest) Pull();  // a newer version was announced meanwhile
                break;
            case WeightChunkOutcome.Completed:
                result.Staged?.Dispose();
                break;
            case WeightChunkOutcome.Failed:
                Abandoned(result.TransferId, result.Version, result.Reason ?? "failed");
                break;
            case WeightChunkOutcome.Rejected:
                _log.Debug("weight stream message rejected: {0}", result.Reason);
                break;
        }
    }

    private void Abandoned(string transfer, long version, string reason)
    {
        _counter.Failed();
        _log.Warning("weights v{0} (transfer {1}) abandoned: {2}; asking for the newest weights again", version, transfer, reason);
        Pull();
    }

    private void AnswerLatest()
    {
        if (Sender.Path.Address.HasLocalScope)
        {
            if (_latest is not null) Sender.Tell(_latest);
            else _upstream?.Tell(RequestLatestWeights.Instance);
            return;
        }
        // Another node's bridge: the newest version, streamed to it a chunk at a time.
        if (_latest is null) return;
        foreach (var (id, o) in _outgoing.ToArray())
            if (o.To.Equals(Sender)) Close(id, "the node pulled again");  // it abandoned that stream
        if (_outgoing.Count >= MaxStreams)
        {
            _log.Warning("{0} weight streams in flight (max {1}); refusing a pull from {2}", _outgoing.Count, MaxStreams, Sender.Path);
            return;
        }
        var sender = new WeightStreamSender(_latest.Weights, WeightStreamSender.NewTransferId(_latest.Version), _chunkBytes, _stallTimeout);
        var outgoing = new Outgoing(Sender, sender);
        _outgoing[sender.TransferId] = outgoing;
        Sender.Tell(sender.Start);
        SendNext(outgoing);
    }

    private void Acknowledged(WeightChunkAck ack)
    {
        if (!_outgoing.TryGetValue(ack.TransferId, out var o)) return;  // closed meanwhile
        SendNext(o);
    }

    private void SendNext(Outgoing o)
    {
        _counter.Landed(o.InFlightBytes);
        o.InFlightBytes = 0;
        Core.Protocol.IPipelineMessage? next;
        try
        {
            next = o.Sender.Next(DateTimeOffset.UtcNow);
        }
        catch (Exception e)
        {
            _log.Error(e, "weight stream {0}: reading v{1} failed", o.Sender.TransferId, o.Sender.Start.Version);
            next = new WeightStreamAbort(o.Sender.TransferId, $"reading failed: {e.Message}");
        }
        if (next is WeightChunk chunk)
        {
            o.InFlightBytes = chunk.Data.Length;
            _counter.Sent(chunk.Data.Length);
        }
        if (next is not null) o.To.Tell(next);
        if (next is not WeightChunk) Close(o.Sender.TransferId, null);
    }

    private void Close(string id, string? why)
    {
        if (!_outgoing.Remove(id, out var o)) return;
        _counter.Landed(o.InFlightBytes);
        o.Sender.Dispose();
        if (why is not null) _log.Debug("weight stream {0} to {1} closed: {2}", id, o.To.Path, why);
    }

    private void Keep(PolicyWeights weights, bool fromTopic)
    {
        _newest = weights.Version;
        _latest = weights;
        _counter.Seen(weights.Version, fromTopic);
    }
}
