using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Scores each group with every declared reward source concurrently, off the actor's thread, and forwards the
/// annotated group to the buffer. A required source, and any fast (in-process) source, holds the group until it
/// answers or its deadline passes (then its signals are invalid); an optional slow source (a remote judge) never holds
/// the group: whatever it has not delivered when the others are done is marked invalid. Signals outside a source's declared range are invalid.
/// At most <c>maxInFlight</c> groups are scored at once; beyond that the credit is released, not queued.
/// The signals are composed on the actor's thread by a <see cref="RewardComposer"/> (it keeps running statistics).
/// </summary>
public sealed class AnnotationStage : ReceiveActor
{
    private sealed record Scored(GeneratedGroup Generated, IReadOnlyList<RewardSignal>[] PerSource, TimeSpan Elapsed);
    private sealed record ScoringFailed(long CreditId, string Reason);

    private readonly IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> _sources;
    private readonly IActorRef _buffer;
    private readonly int _maxInFlight;
    private readonly RewardComposer _composer;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _inFlight;

    private readonly IActorRef? _observer;
    private readonly Hosting.RunClock _clock;

    /// <param name="clock">Deadlines and latencies read from its clock; null: <see cref="Hosting.RunClock.Real"/>.</param>
    public AnnotationStage(IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources, IActorRef buffer, int maxInFlight,
        RewardComposer? composer = null, IActorRef? observer = null, Hosting.RunClock? clock = null)
    {
        _observer = observer;
        _clock = clock ?? Hosting.RunClock.Real;
        if (sources.Count == 0) throw new ArgumentException("at least one reward source is needed", nameof(sources));
        _sources = sources;
        _buffer = buffer;
        _maxInFlight = maxInFlight;
        _composer = composer ?? new RewardComposer(sources.Select(s => s.Spec).ToList());
        Receive<GeneratedGroup>(Handle);
        Receive<Scored>(s =>
        {
            _inFlight--;
            _buffer.Tell(Compose(s.Generated, s.PerSource, s.Elapsed, _composer));
        });
        Receive<ScoringFailed>(f =>
        {
            _inFlight--;
            _buffer.Tell(new CreditReleased(f.CreditId, f.Reason));
        });
    }

    /// <param name="observer">Sees every generated group as it arrives (ONI's critic labeller); never waited for.</param>
    public static Props Props(IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources, IActorRef buffer, int maxInFlight,
        RewardComposer? composer = null, IActorRef? observer = null, Hosting.RunClock? clock = null)
        => Akka.Actor.Props.Create(() => new AnnotationStage(sources, buffer, maxInFlight, composer, observer, clock));

    protected override void PostStop() => _stopping.Cancel();

    private void Handle(GeneratedGroup generated)
    {
        _observer?.Tell(generated.Group);
        if (_inFlight >= _maxInFlight)
        {
            _log.Warning("Annotation stage full ({0} groups in flight): releasing credit {1}", _inFlight, generated.CreditId);
            _buffer.Tell(new CreditReleased(generated.CreditId, "annotation stage full"));
            return;
        }
        _inFlight++;
        var self = Self;
        var clock = _clock.Time;
        var started = clock.GetTimestamp();
        ScoreAsync(generated.Group, _sources, _stopping.Token, _clock).PipeTo(self,
            success: perSource => new Scored(generated, perSource, clock.GetElapsedTime(started)),
            failure: e => new ScoringFailed(generated.CreditId, $"annotation failed: {e.Message}"));
    }

    /// <summary>
    /// Runs all sources on one group and returns each source's signals (one per rollout); never throws for a source's
    /// failure (that source's signals become invalid). <paramref name="clock"/> (null: <see cref="Hosting.RunClock.Real"/>)
    /// gives the deadlines' time and whether sources are called inline.
    /// </summary>
    public static async Task<IReadOnlyList<RewardSignal>[]> ScoreAsync(RolloutGroup group,
        IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources, CancellationToken stopping, Hosting.RunClock? clock = null)
    {
        clock ??= Hosting.RunClock.Real;
        var started = clock.Time.GetTimestamp();
        // Cancelled once the group leaves, so an optional source that was not ready stops working on it.
        using var groupDone = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var tasks = sources.Select(s => RunSource(s.Source, s.Spec, group, groupDone.Token, clock)).ToArray();

        // Required sources hold the group (each until its deadline), and so do fast in-process ones: they are cheap and
        // bounded by their deadlines. Optional slow sources (remote judges) never hold it.
        var holding = tasks.Where((_, i) => sources[i].Spec.Required || sources[i].Source.Kind == RewardSourceKind.Fast).ToArray();
        await Task.WhenAll(holding.Length > 0 ? holding : tasks).ConfigureAwait(false);

        var perSource = new IReadOnlyList<RewardSignal>[sources.Count];
        for (var i = 0; i < sources.Count; i++)
        {
            perSource[i] = tasks[i].IsCompletedSuccessfully
                ? tasks[i].Result
                : Enumerable.Range(0, group.Rollouts.Length)
                    .Select(_ => RewardSignal.Invalid(sources[i].Spec.Name, "optional source not ready when the group left", clock.Time.GetElapsedTime(started)))
                    .ToList();
        }
        // Inline (simulation): cancelled on this thread, since CancelAsync runs the callbacks on the thread pool.
        if (clock.CallSourcesInline) groupDone.Cancel();
        else await groupDone.CancelAsync().ConfigureAwait(false);
        return perSource;
    }

    /// <summary>Composes the per-source signals into one reward per rollout (on the actor's thread: the composer has state).</summary>
    public static AnnotatedGroup Compose(GeneratedGroup generated, IReadOnlyList<RewardSignal>[] perSource, TimeSpan elapsed, RewardComposer composer)
    {
        var group = generated.Group;
        var rows = Enumerable.Range(0, group.Rollouts.Length)
            .Select(r => (IReadOnlyList<RewardSignal>)perSource.Select(p => p[r]).ToImmutableArray())
            .ToArray();
        var composed = composer.ComposeGroup(rows);
        var rewards = ImmutableArray.CreateBuilder<RolloutRewards>(group.Rollouts.Length);
        for (var r = 0; r < rows.Length; r++)
            rewards.Add(new RolloutRewards((ImmutableArray<RewardSignal>)rows[r], composed[r].Value, composed[r].Valid, composed[r].Reason));
        return new AnnotatedGroup(generated.CreditId, group, rewards.MoveToImmutable(), elapsed, generated.PromptCursor);
    }

    private static async Task<IReadOnlyList<RewardSignal>> RunSource(IRewardSource source, RewardSourceSpec spec, RolloutGroup group,
        CancellationToken stopping, Hosting.RunClock clock)
    {
        var time = clock.Time;
        var started = time.GetTimestamp();
        // On the run's clock, linked to the stage's stop by hand (a linked source would take the system's clock).
        using var deadline = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        await using var linked = stopping.Register(deadline.Cancel);
        deadline.CancelAfter(spec.Deadline);
        IReadOnlyList<RewardSignal> signals;
        try
        {
            // Task.Run: a source that blocks before its first await must not block the actor or escape its deadline.
            // Not cancelled before it starts: an optional slow source's call is issued even when its group left first (on a
            // busy machine the group can leave before the call was scheduled), so its late answer still reaches the labels.
            var token = deadline.Token;
            var call = clock.CallSourcesInline ? source.ScoreAsync(group, token) : Task.Run(() => source.ScoreAsync(group, token));
            signals = await call.WaitAsync(spec.Deadline, time, stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Stop the source's own work too; disposing the token source alone would not.
            if (clock.CallSourcesInline) deadline.Cancel();
            else await deadline.CancelAsync().ConfigureAwait(false);
            return AllInvalid(stopping.IsCancellationRequested
                ? "optional source not ready when the group left"
                : $"deadline {spec.Deadline.TotalSeconds:0.###}s passed");
        }
        catch (Exception e)
        {
            return AllInvalid($"{e.GetType().Name}: {e.Message}");
        }

        if (signals is null || signals.Count != group.Rollouts.Length)
            return AllInvalid($"returned {signals?.Count.ToString() ?? "null"} signals for {group.Rollouts.Length} rollouts");

        var (min, max) = source.Range;
        return signals.Select(s => s is null
                ? RewardSignal.Invalid(spec.Name, "null signal", time.GetElapsedTime(started))
                : s.Source != spec.Name
                ? RewardSignal.Invalid(spec.Name, $"signal labelled '{s.Source}'", s.Latency)
                : s.Valid && (s.Value < min || s.Value > max || !double.IsFinite(s.Value))
                    ? RewardSignal.Invalid(spec.Name, $"value {s.Value} outside [{min}, {max}]", s.Latency)
                    : s)
            .ToList();

        IReadOnlyList<RewardSignal> AllInvalid(string reason)
        {
            var latency = time.GetElapsedTime(started);
            return Enumerable.Range(0, group.Rollouts.Length).Select(_ => RewardSignal.Invalid(spec.Name, reason, latency)).ToList();
        }
    }
}
