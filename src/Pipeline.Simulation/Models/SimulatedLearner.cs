using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;
using Pipeline.Simulation.Costs;

namespace Pipeline.Simulation.Models;

/// <summary>A published version in a simulation: its number and declared size, no bytes (nothing reads them).</summary>
public sealed class SimulatedWeights(long version, long bytes) : IWeightSource
{
    public long Version { get; } = version;
    public long Bytes { get; } = bytes;
    public IReadOnlyList<TensorLayout> Layouts => [];
    public WeightReader? TryOpen(TimeSpan timeout) => null;
}

/// <summary>What the simulated learner saw, for the summary.</summary>
public sealed class LearnerActivity
{
    public long Steps { get; internal set; }
    public long Version { get; internal set; }
    public long GroupsTrained { get; internal set; }
    public long RolloutsTrained { get; internal set; }
    public long TokensTrained { get; internal set; }
    public double BusySeconds { get; internal set; }
    public SortedDictionary<long, long> Staleness { get; } = [];
    public List<double> BufferDepths { get; } = [];
    public SortedDictionary<string, long> ValidSignals { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, long> InvalidSignals { get; } = new(StringComparer.Ordinal);
    public long MaskedRollouts { get; internal set; }
    public BufferStats? LastStats { get; internal set; }
    /// <summary>Why the run would have stopped (a required source invalid too long, no batch in time); null: it did not.</summary>
    public string? Failure { get; internal set; }
}

/// <summary>
/// Stands in for <see cref="Runtime.Actors.Learner"/> (which trains a torch policy) and speaks its protocol: it asks the buffer
/// for batches (<see cref="RequestBatch"/>, with the same batch-wait deadline), stays busy for the cost model's step time,
/// advances the version (<see cref="PolicyVersionAdvanced"/> to the buffer at once), publishes <see cref="PolicyWeights"/> on
/// the event stream after the weight-sync time, answers <see cref="RequestLatestWeights"/>, and writes metrics rows with the
/// real learner's names (<see cref="BatchMetrics"/>, <see cref="RewardValidity"/>, timing_s/*, throughput/*, buffer/*, admission/*).
/// </summary>
public sealed class SimulatedLearner : ReceiveActor, IWithTimers
{
    private sealed record StepDone(TrainingBatch Batch, long Samples, long Tokens, long CompletionTokens, double Seconds);
    private sealed record Deliver(SimulatedWeights Weights);
    private sealed record BatchDeadline(long RequestId);

    private readonly PipelineSettings _s;
    private readonly LearnerCost _cost;
    private readonly WeightSyncCost _sync;
    private readonly IActorRef _buffer;
    private readonly IActorRef _metrics;
    private readonly IReadOnlyList<IReportsMetrics> _counters;
    private readonly LearnerActivity _activity;
    private readonly RewardValidity _validity;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private SimulatedWeights _delivered;
    private long _requestId;
    private long _version;
    private double _waitStarted;
    private double _lastStepEnd;

    public ITimerScheduler Timers { get; set; } = null!;

    public SimulatedLearner(PipelineSettings settings, LearnerCost cost, WeightSyncCost sync, IActorRef buffer, IActorRef metrics,
        IReadOnlyList<IReportsMetrics> counters, LearnerActivity activity)
    {
        _s = settings;
        _cost = cost;
        _sync = sync;
        _buffer = buffer;
        _metrics = metrics;
        _counters = counters;
        _activity = activity;
        _validity = new RewardValidity(settings);
        _delivered = new SimulatedWeights(0, cost.WeightBytes);
        Receive<TrainingBatch>(Train);
        Receive<StepDone>(Finish);
        Receive<Deliver>(d =>
        {
            if (d.Weights.Version <= _delivered.Version) return;
            _delivered = d.Weights;
            Context.System.EventStream.Publish(new PolicyWeights(d.Weights));
        });
        Receive<RequestLatestWeights>(_ => Sender.Tell(new PolicyWeights(_delivered)));
        Receive<NewerWeightsWanted>(_ => { });  // every version is published as it reaches the generators
        Receive<BatchDeadline>(d =>
        {
            if (d.RequestId != _requestId || _activity.Failure is not null) return;
            _activity.Failure = $"no training batch within {_s.Timeouts.BatchWait.TotalSeconds:0}s at policy version {_version}: generation or annotation has stalled";
            _log.Error(_activity.Failure);
        });
    }

    public static Props Props(PipelineSettings settings, LearnerCost cost, WeightSyncCost sync, IActorRef buffer, IActorRef metrics,
        IReadOnlyList<IReportsMetrics> counters, LearnerActivity activity)
        => Akka.Actor.Props.Create(() => new SimulatedLearner(settings, cost, sync, buffer, metrics, counters, activity));

    private double Now => Context.System.Scheduler.MonotonicClock.TotalSeconds;

    protected override void PreStart()
    {
        // Version 0 is the initial policy every generator already holds: published at once, as the real learner does.
        Context.System.EventStream.Publish(new PolicyWeights(_delivered));
        _buffer.Tell(new PolicyVersionAdvanced(0));
        RequestNextBatch();
    }

    private void RequestNextBatch()
    {
        if (_activity.Failure is not null) return;
        _requestId++;
        _waitStarted = Now;
        _buffer.Tell(new RequestBatch(_requestId, _s.Grpo.BatchGroups, _version));
        Timers.StartSingleTimer("batch-deadline", new BatchDeadline(_requestId), _s.Timeouts.BatchWait);
    }

    private void Train(TrainingBatch batch)
    {
        if (batch.RequestId != _requestId) return;
        Timers.Cancel("batch-deadline");
        long samples = 0, tokens = 0, completion = 0;
        foreach (var group in batch.Groups)
        {
            for (var i = 0; i < group.Group.Rollouts.Length; i++)
            {
                if (!group.Rewards[i].Valid) continue;  // masked: trains nothing
                var r = group.Group.Rollouts[i];
                if (_s.Grpo.OverlongFilter && r.Truncated) continue;
                samples++;
                tokens += r.PromptTokens.Length + r.CompletionTokens.Length;
                completion += r.CompletionTokens.Length;
            }
        }
        var seconds = _cost.StepOverhead + _cost.PerToken * tokens;
        Timers.StartSingleTimer("step", new StepDone(batch, samples, tokens, completion, seconds), TimeSpan.FromSeconds(seconds));
    }

    private void Finish(StepDone done)
    {
        var batch = done.Batch;
        var now = Now;
        var waited = now - done.Seconds - _waitStarted;
        var stepSeconds = _activity.Steps == 0 ? waited + done.Seconds : now - _lastStepEnd;
        _lastStepEnd = now;
        var groups = batch.Groups;
        foreach (var g in groups)
        {
            var staleness = _version - g.Group.PolicyVersion;
            _activity.Staleness[staleness] = _activity.Staleness.GetValueOrDefault(staleness) + 1;
            foreach (var rr in g.Rewards)
            {
                if (!rr.Valid) _activity.MaskedRollouts++;
                foreach (var signal in rr.Signals)
                {
                    var table = signal.Valid ? _activity.ValidSignals : _activity.InvalidSignals;
                    table[signal.Source] = table.GetValueOrDefault(signal.Source) + 1;
                }
            }
        }
        _activity.Steps++;
        _activity.GroupsTrained += groups.Length;
        _activity.RolloutsTrained += groups.Sum(g => (long)g.Group.Rollouts.Length);
        _activity.TokensTrained += done.Tokens;
        _activity.BusySeconds += done.Seconds;
        _activity.BufferDepths.Add(batch.Stats.Depth);
        _activity.LastStats = batch.Stats;

        _version++;
        _activity.Version = _version;
        _buffer.Tell(new PolicyVersionAdvanced(_version));
        var weights = new SimulatedWeights(_version, _cost.WeightBytes);
        var syncSeconds = _sync.Seconds(_cost.WeightBytes);
        Timers.StartSingleTimer("sync-" + _version, new Deliver(weights), TimeSpan.FromSeconds(syncSeconds));

        var data = BatchMetrics.Compute(groups, _version - 1);
        var invalidTooLong = _validity.Observe(groups, (int)done.Samples);
        _validity.AddMetrics(data);
        data["timing_s/wait"] = waited;
        data["timing_s/update"] = done.Seconds;
        data["timing_s/sync"] = syncSeconds;
        data["timing_s/step"] = stepSeconds;
        data["throughput/rollouts_per_s"] = groups.Sum(g => g.Group.Rollouts.Length) / Math.Max(stepSeconds, 1e-9);
        data["throughput/tokens_per_s"] = groups.Sum(g => g.Group.TokenCount) / Math.Max(stepSeconds, 1e-9);
        data["policy/version"] = _version;
        data["learner/dropped_stale"] = 0;
        data["learner/samples"] = done.Samples;
        data["actor/tokens"] = done.CompletionTokens;  // as the real learner: completion tokens trained
        BatchMetrics.AddBufferStats(data, batch.Stats);
        data["sim/time_s"] = now;
        foreach (var c in _counters) c.AddMetrics(data);
        _metrics.Tell(new MetricsReport(_activity.Steps, data));
        if (invalidTooLong is not null && _activity.Failure is null)
        {
            _activity.Failure = invalidTooLong;
            _log.Error(invalidTooLong);
            return;
        }
        RequestNextBatch();
    }
}
