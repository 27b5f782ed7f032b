using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Runs the slow reward sources (remote judges) outside the annotation stage, the generators and the learner:
/// at most <c>workers</c> groups per source are scored at once and at most <c>queue</c> wait. A request beyond the
/// queue, or one whose deadline passes while it waits, is answered at once with invalid signals and counted —
/// nothing waits unboundedly, nothing is dropped silently. A requester that no longer needs an answer sends
/// <see cref="CancelScore"/>; a running call is then cancelled, a queued one removed.
/// An OPTIONAL request never queues: it runs only if a worker is free, else it is answered "busy" at once. Its caller
/// stops waiting when its group leaves but does not cancel it, so the judge's work is not thrown away: every finished
/// call is published on the event stream as <see cref="SlowSourceScored"/> (for label consumers, e.g. a reward model
/// learning from the critic) — the critic labels what it can, at its own rate, and never holds a group.
/// </summary>
public sealed class SlowSourcePool : ReceiveActor
{
    public sealed record ScoreRequest(long RequestId, string Source, RolloutGroup Group, TimeSpan Deadline, bool Optional = false) : IPipelineMessage;
    /// <summary>Published on the event stream for every call that finished with signals, late or not.</summary>
    public sealed record SlowSourceScored(string Source, RolloutGroup Group, IReadOnlyList<RewardSignal> Signals) : IPipelineMessage;
    public sealed record ScoreReply(long RequestId, IReadOnlyList<RewardSignal> Signals) : IPipelineMessage;
    public sealed record CancelScore(long RequestId) : IPipelineMessage;
    public sealed record GetStats : IPipelineMessage { public static readonly GetStats Instance = new(); }
    public sealed record Stats(int Running, int Queued, long Completed, long RejectedFull, long ExpiredInQueue, long Cancelled, long RejectedBusy = 0) : IPipelineMessage;

    private sealed record Finished(long RequestId, IReadOnlyList<RewardSignal>? Signals, string? Error);
    private sealed record Pending(ScoreRequest Request, IActorRef ReplyTo, DateTime Arrived);

    private readonly IReadOnlyDictionary<string, IRewardSource> _sources;
    private readonly int _workers;
    private readonly int _queueCapacity;
    private readonly Dictionary<string, int> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (Pending Pending, CancellationTokenSource Cts)> _inFlight = [];
    private readonly LinkedList<Pending> _queue = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _completed, _rejectedFull, _expired, _cancelled, _rejectedBusy;

    public SlowSourcePool(IReadOnlyDictionary<string, IRewardSource> sources, int workers, int queue)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), "at least one worker");
        _sources = sources;
        _workers = workers;
        _queueCapacity = queue;
        foreach (var name in sources.Keys) _running[name] = 0;

        Receive<ScoreRequest>(Handle);
        Receive<CancelScore>(c =>
        {
            if (_inFlight.TryGetValue(c.RequestId, out var running))
            {
                running.Cts.Cancel();
                _cancelled++;
                return;
            }
            for (var node = _queue.First; node is not null; node = node.Next)
            {
                if (node.Value.Request.RequestId != c.RequestId) continue;
                _queue.Remove(node);
                _cancelled++;
                return;
            }
        });
        Receive<Finished>(f =>
        {
            if (!_inFlight.Remove(f.RequestId, out var done)) return;
            done.Cts.Dispose();
            _running[done.Pending.Request.Source]--;
            _completed++;
            if (f.Signals is not null)
                Context.System.EventStream.Publish(new SlowSourceScored(done.Pending.Request.Source, done.Pending.Request.Group, f.Signals));
            done.Pending.ReplyTo.Tell(new ScoreReply(f.RequestId, f.Signals
                ?? Invalid(done.Pending.Request, f.Error ?? "failed")));
            StartWaiting();
        });
        Receive<GetStats>(_ => Sender.Tell(new Stats(_inFlight.Count, _queue.Count, _completed, _rejectedFull, _expired, _cancelled, _rejectedBusy)));
    }

    /// <summary>
    /// The reward sources as an annotation stage should call them: slow ones (remote judges) through one pool actor,
    /// made with <paramref name="create"/>, with its bounded queue; fast ones as they are. Local mode and cluster
    /// generator nodes both use this.
    /// </summary>
    public static IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> Wrap(IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources,
        int workers, int queue, Func<Props, string, IActorRef> create)
    {
        var slow = sources.Where(x => x.Source.Kind == RewardSourceKind.Slow).ToList();
        if (slow.Count == 0) return sources.Select(x => (x.Source, x.Spec)).ToList();
        return Wrap(sources, create(Props(slow.ToDictionary(x => x.Spec.Name, x => x.Source), workers, queue), "slow-rewards"));
    }

    /// <summary>
    /// The reward sources with the slow ones answered by <paramref name="pool"/>: a <see cref="SlowSourcePool"/>, or a router
    /// over the pools of other nodes (cluster mode's critic nodes). Only the slow sources' names reach the pool.
    /// </summary>
    public static IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> Wrap(IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources,
        IActorRef pool)
    {
        return sources.Select(x => x.Source.Kind == RewardSourceKind.Slow
                ? ((IRewardSource)new PooledRewardSource(x.Source, pool, x.Spec.Deadline, x.Spec.Required), x.Spec)
                : (x.Source, x.Spec))
            .ToList();
    }

    public static Props Props(IReadOnlyDictionary<string, IRewardSource> sources, int workers, int queue)
        => Akka.Actor.Props.Create(() => new SlowSourcePool(sources, workers, queue));

    protected override void PostStop()
    {
        foreach (var (_, (_, cts)) in _inFlight) cts.Cancel();
    }

    private void Handle(ScoreRequest request)
    {
        if (!_sources.ContainsKey(request.Source))
        {
            Sender.Tell(new ScoreReply(request.RequestId, Invalid(request, $"slow pool has no source '{request.Source}'")));
            return;
        }
        var pending = new Pending(request, Sender, DateTime.UtcNow);
        if (_running[request.Source] < _workers)
        {
            Start(pending);
        }
        else if (request.Optional)
        {
            _rejectedBusy++;
            Sender.Tell(new ScoreReply(request.RequestId, Invalid(request, "slow pool busy (optional source: not queued)")));
        }
        else if (_queue.Count < _queueCapacity)
        {
            _queue.AddLast(pending);
        }
        else
        {
            _rejectedFull++;
            if (_rejectedFull == 1 || _rejectedFull % 100 == 0)
                _log.Warning("Slow reward pool full ({0} queued): '{1}' answered invalid ({2} so far)", _queue.Count, request.Source, _rejectedFull);
            Sender.Tell(new ScoreReply(request.RequestId, Invalid(request, $"slow pool full ({_queueCapacity} queued)")));
        }
    }

    private void StartWaiting()
    {
        var now = DateTime.UtcNow;
        for (var node = _queue.First; node is not null;)
        {
            var next = node.Next;
            var p = node.Value;
            if (now - p.Arrived >= p.Request.Deadline)
            {
                _queue.Remove(node);
                _expired++;
                p.ReplyTo.Tell(new ScoreReply(p.Request.RequestId, Invalid(p.Request, "deadline passed in the slow pool's queue")));
            }
            else if (_running[p.Request.Source] < _workers)
            {
                _queue.Remove(node);
                Start(p);
            }
            node = next;
        }
    }

    private void Start(Pending pending)
    {
        var request = pending.Request;
        var remaining = request.Deadline - (DateTime.UtcNow - pending.Arrived);
        var cts = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
        _inFlight[request.RequestId] = (pending, cts);
        _running[request.Source]++;
        var source = _sources[request.Source];
        var token = cts.Token;
        var self = Self;
        Task.Run(() => source.ScoreAsync(request.Group, token), token)
            .ContinueWith(t => t.IsCompletedSuccessfully
                    ? new Finished(request.RequestId, t.Result, null)
                    : new Finished(request.RequestId, null, t.IsCanceled || token.IsCancellationRequested
                        ? "cancelled (deadline or group left)"
                        : $"{t.Exception?.InnerException?.GetType().Name}: {t.Exception?.InnerException?.Message}"),
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
            .PipeTo(self);
    }

    private static IReadOnlyList<RewardSignal> Invalid(ScoreRequest request, string reason)
        => request.Group.Rollouts.Select(_ => RewardSignal.Invalid(request.Source, reason, TimeSpan.Zero)).ToList();
}

/// <summary>
/// Stands in for a slow source inside the annotation stage: asks the pool. For a required source, a caller that no longer
/// needs the answer (its deadline passed) tells the pool to cancel; an optional source's call is left to finish in the
/// pool (its result is published for label consumers) while the caller simply stops waiting.
/// </summary>
public sealed class PooledRewardSource(IRewardSource inner, IActorRef pool, TimeSpan deadline, bool required = true) : IRewardSource
{
    // Random start: in cluster mode the pools of critic nodes serve the sources of many generator nodes, and a pool keys
    // its calls by request id, so ids from different processes must not meet (two 2^62 ranges used a few million ids each).
    private static long _nextRequest = Random.Shared.NextInt64(1L << 62);

    public string Name => inner.Name;
    public RewardSourceKind Kind => inner.Kind;
    public (double Min, double Max) Range => inner.Range;

    public async Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextRequest);
        await using var cancel = required
            ? cancellationToken.Register(() => pool.Tell(new SlowSourcePool.CancelScore(id)))
            : default;
        var reply = await pool.Ask<SlowSourcePool.ScoreReply>(new SlowSourcePool.ScoreRequest(id, inner.Name, group, deadline, Optional: !required),
            deadline + TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        return reply.Signals;
    }
}
