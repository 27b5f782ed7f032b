using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Oni.RewardModels;

namespace Pipeline.Runtime.Actors.Oni;

/// <summary>
/// ONI's label pipeline: completions flow in as groups are generated; a sample of them (newest first) is sent to the slow
/// critic, a few at a time, and every answer goes to the reward-model trainer as a label. Rollouts never wait for it.
/// <list type="bullet">
/// <item>Dedup by text hash: a text already labelled, waiting in the backlog or in flight is never asked twice (ONI re-sends
/// captions that are in flight).</item>
/// <item>The backlog is bounded; when full, the oldest candidate is dropped and counted.</item>
/// <item>Rate: a sampling rate (share of completions offered) and an optional labels-per-second budget.</item>
/// </list>
/// </summary>
public sealed class CriticLabeller : ReceiveActor, IWithTimers
{
    public sealed record Settings(double SamplingRate, double LabelsPerSecond, int Backlog, int MaxInFlight, TimeSpan Deadline, int Seed,
        int MaxRemembered = 100_000)
    {
        /// <summary>The text a label carries (and is deduplicated by): what the reward model reads (oni.reward-model.input).</summary>
        public RewardModelInput Input { get; init; } = RewardModelInput.Completion;
    }

    /// <summary>One critic verdict on one completion, for the reward model.</summary>
    public sealed record CriticLabel(string Text, double Score, string PromptId, string RolloutId) : IPipelineMessage;
    public sealed record CriticLabels(ImmutableArray<CriticLabel> Labels) : IPipelineMessage;
    public sealed record GetStats : IPipelineMessage { public static readonly GetStats Instance = new(); }

    /// <summary>Counters; <see cref="Offered"/> = every completion seen, <see cref="Sampled"/> = those the sampling rate picked.</summary>
    public sealed record Stats(long Offered, long Sampled, long Duplicates, long Dropped, long Labelled, long Failed, int Backlog, int InFlight)
        : IPipelineMessage;

    private sealed record Candidate(UInt128 Hash, Prompt Prompt, Rollout Rollout, long PolicyVersion);
    private sealed record Answered(Candidate Candidate, RewardSignal? Signal, string? Error);
    private sealed class Tick { public static readonly Tick Instance = new(); }

    private readonly IRewardSource _critic;
    private readonly IActorRef _trainer;
    private readonly Settings _s;
    private readonly Random _random;
    private readonly LinkedList<Candidate> _backlog = new();
    private readonly HashSet<UInt128> _pending = [];    // in the backlog or in flight
    private readonly HashSet<UInt128> _labelled = [];   // answered (bounded by MaxRemembered)
    private readonly Queue<UInt128> _labelledOrder = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stopping = new();
    private int _inFlight;
    private double _budget;
    private long _offered, _sampled, _duplicates, _dropped, _labelledCount, _failed;

    private readonly OniStats? _stats;

    public CriticLabeller(IRewardSource critic, IActorRef trainer, Settings settings, OniStats? stats = null)
    {
        _stats = stats;
        _critic = critic;
        _trainer = trainer;
        _s = settings;
        _random = new Random(settings.Seed);
        _budget = settings.LabelsPerSecond > 0 ? Math.Max(1, settings.LabelsPerSecond) : double.PositiveInfinity;

        Receive<RolloutGroup>(Offer);
        Receive<Answered>(OnAnswer);
        Receive<Tick>(_ =>
        {
            _budget = Math.Min(_budget + _s.LabelsPerSecond / 10, Math.Max(1, _s.LabelsPerSecond));
            Dispatch();
        });
        Receive<GetStats>(_ => Sender.Tell(Snapshot()));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IRewardSource critic, IActorRef trainer, Settings settings, OniStats? stats = null)
        => Akka.Actor.Props.Create(() => new CriticLabeller(critic, trainer, settings, stats));

    protected override void PreStart()
    {
        if (_s.LabelsPerSecond > 0) Timers.StartPeriodicTimer("budget", Tick.Instance, TimeSpan.FromMilliseconds(100));
    }

    protected override void PostStop() => _stopping.Cancel();

    public Stats Snapshot() => new(_offered, _sampled, _duplicates, _dropped, _labelledCount, _failed, _backlog.Count, _inFlight);

    private void Offer(RolloutGroup group)
    {
        foreach (var rollout in group.Rollouts)
        {
            _offered++;
            if (_random.NextDouble() >= _s.SamplingRate) continue;
            _sampled++;
            var hash = TextHash.Of(RewardModelInputs.Text(_s.Input, group.Prompt.Text, rollout.CompletionText));
            if (_pending.Contains(hash) || _labelled.Contains(hash))
            {
                _duplicates++;
                continue;
            }
            _backlog.AddFirst(new Candidate(hash, group.Prompt, rollout, group.PolicyVersion)); // newest first
            _pending.Add(hash);
            if (_backlog.Count > _s.Backlog)
            {
                var oldest = _backlog.Last!.Value;
                _backlog.RemoveLast();
                _pending.Remove(oldest.Hash);
                _dropped++;
            }
        }
        Dispatch();
        _stats?.Labeller(Snapshot());
    }

    private void Dispatch()
    {
        while (_inFlight < _s.MaxInFlight && _backlog.First is { } first && _budget >= 1)
        {
            _backlog.RemoveFirst();
            _inFlight++;
            if (!double.IsPositiveInfinity(_budget)) _budget -= 1;
            var candidate = first.Value;
            var single = new RolloutGroup(candidate.Rollout.GroupId + "/label", candidate.Prompt, candidate.PolicyVersion,
                [candidate.Rollout], TimeSpan.Zero);
            var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            deadline.CancelAfter(_s.Deadline);
            var self = Self;
            Task.Run(() => _critic.ScoreAsync(single, deadline.Token), deadline.Token)
                .ContinueWith(t =>
                {
                    deadline.Dispose();
                    return t.IsCompletedSuccessfully && t.Result is { Count: 1 } signals
                        ? new Answered(candidate, signals[0], null)
                        : new Answered(candidate, null, t.Exception?.InnerException?.Message ?? (t.IsCanceled ? "deadline" : "no signal"));
                }, TaskScheduler.Default)
                .PipeTo(self);
        }
    }

    private void OnAnswer(Answered answer)
    {
        _inFlight--;
        var hash = answer.Candidate.Hash;
        _pending.Remove(hash);
        if (answer.Signal is { Valid: true } signal)
        {
            _labelledCount++;
            Remember(hash);
            var text = RewardModelInputs.Text(_s.Input, answer.Candidate.Prompt.Text, answer.Candidate.Rollout.CompletionText);
            _trainer.Tell(new CriticLabels([new CriticLabel(text, signal.Value,
                answer.Candidate.Prompt.Id, answer.Candidate.Rollout.RolloutId)]));
        }
        else
        {
            // Counted; the text may be offered again later (a transient critic failure is not a verdict).
            _failed++;
            if (_failed == 1 || _failed % 100 == 0)
                _log.Warning("Critic could not label a completion ({0} so far): {1}", _failed, answer.Error ?? answer.Signal?.Details);
        }
        Dispatch();
        _stats?.Labeller(Snapshot());
    }

    private void Remember(UInt128 hash)
    {
        if (!_labelled.Add(hash)) return;
        _labelledOrder.Enqueue(hash);
        while (_labelledOrder.Count > _s.MaxRemembered) _labelled.Remove(_labelledOrder.Dequeue());
    }
}
