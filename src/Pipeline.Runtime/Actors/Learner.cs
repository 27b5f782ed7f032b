using Pipeline.Core.Rewards;
using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Grpo;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sft;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Owns the policy. Stage 1: supervised warm-start on the task's demonstrations with early stopping on a
/// validation slice. Stage 2: GRPO on batches from the replay buffer: group-normalised advantages over valid
/// rewards, decoupled PPO loss with truncated importance sampling against the behaviour log-probs, k3 KL to the
/// frozen warm-start policy. Never trains on a group older than eta versions (counted). Publishes every version.
/// </summary>
public sealed class Learner : ReceiveActor, IWithTimers
{
    public sealed record Settings(PipelineSettings Pipeline, PolicyFactory Policy, string RunDir, ResumePoint? Resume)
    {
        /// <summary>Counters of the reward sources (critic, embedding cache), added to every step's metrics.</summary>
        public IReadOnlyList<Pipeline.Core.Rewards.IReportsMetrics> SourceMetrics { get; init; } = [];

        /// <summary>Cancelled with the run's Interrupt: a warm-start epoch stops after its current batch (its position is checkpointed).</summary>
        public CancellationToken Interrupt { get; init; }
    }

    /// <summary>Where a resumed run starts: the checkpoint it loads and what it says.</summary>
    public sealed record ResumePoint(string CheckpointDir, string Stage, long Step, long PolicyVersion, long DataCursor)
    {
        /// <summary>
        /// The lowest policy version the resumed learner may publish. Cluster mode sets it above every version the old
        /// learner published after its last checkpoint, so that after a hand-over the version never goes backwards.
        /// </summary>
        public long VersionFloor { get; init; }
    }

    public sealed record StartWarmStart;
    public sealed record StartGrpo(WeightSnapshot Reference);
    private sealed record SftEpoch(int Epoch);
    private sealed record BatchDeadline(long RequestId);
    private const string BatchDeadlineTimer = "batch-deadline";

    /// <summary>Checkpoint key: the position in the next epoch's batch order where an interrupted warm-start epoch stopped.</summary>
    private const string EpochBatchKey = "epoch_batch";
    private int _epochBatch;

    private readonly Settings _s;
    private readonly IPolicyTokenizer _tokenizer;
    private readonly IPipelineTask _task;
    private readonly IActorRef _buffer;
    private readonly IActorRef _metrics;
    private readonly IActorRef _evaluator;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    private PolicyNetwork _policy = null!;
    private PolicyNetwork? _reference;
    /// <summary>The policy's own tensors as the source of every published version (no copy per version).</summary>
    private LiveWeights? _live;
    private IWeightSource? _published;
    private SftTrainer? _sft;
    private GrpoTrainer? _grpo;

    // warm-start state
    private List<SftExample> _sftTrain = [];
    private List<SftExample> _sftValidation = [];
    private double _bestValidation = double.PositiveInfinity;
    private WeightSnapshot? _best;
    private int _epochsWithoutImprovement;
    private int _epoch;

    // GRPO state
    private long _step;
    private long _version;
    private long _dataCursor;
    private long _requestId;
    private long _droppedStale;
    private long _denseTokens;
    private long _stepStarted;
    private long _waitStarted;
    private readonly RewardValidity _validity;

    public ITimerScheduler Timers { get; set; } = null!;

    public Learner(Settings settings, IPolicyTokenizer tokenizer, IPipelineTask task, IActorRef buffer, IActorRef metrics, IActorRef evaluator)
    {
        _s = settings;
        _tokenizer = tokenizer;
        _task = task;
        _buffer = buffer;
        _metrics = metrics;
        _evaluator = evaluator;
        _validity = new RewardValidity(settings.Pipeline);
        if (settings.Resume is { } r)
        {
            _step = r.Step;
            _version = r.PolicyVersion;
            _dataCursor = r.DataCursor;
        }
        Idle();
    }

    public static Props Props(Settings settings, IPolicyTokenizer tokenizer, IPipelineTask task, IActorRef buffer, IActorRef metrics, IActorRef evaluator)
        => Akka.Actor.Props.Create(() => new Learner(settings, tokenizer, task, buffer, metrics, evaluator))
            .WithDispatcher(Dispatchers.Torch);

    protected override void PreStart()
    {
        _policy = _s.Policy.Create(_s.Pipeline.Seed);
        // Cluster mode: the buffer is a singleton reached through a link; when the link re-attaches to a new buffer (the
        // old one's node left or died) the request it held and the version it knew are gone with it.
        Context.System.EventStream.Subscribe(Self, typeof(UpstreamChanged));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _sft?.Dispose();
        _grpo?.Dispose();
        _reference?.Dispose();
        _live?.Dispose();
        _policy.Dispose();
    }

    private void Idle()
    {
        Receive<StartWarmStart>(_ => BeginWarmStart());
        Receive<StartGrpo>(BeginGrpo);
        Receive<Interrupt>(_ => Context.Parent.Tell(new GrpoCompleted(_step, _version, null, true)));
        Receive<RequestLatestWeights>(_ => { });
        Receive<NewerWeightsWanted>(_ => { });
        Receive<UpstreamChanged>(_ => { });
    }

    // ---------------- stage 1: supervised warm-start ----------------

    private void BeginWarmStart()
    {
        var ws = _s.Pipeline.WarmStart;
        var examples = _task.Demonstrations
            .Select(d => new SftExample(_tokenizer.EncodePrompt(d.Prompt), [.. _tokenizer.Encode(d.Completion), _tokenizer.Eos]))
            .Where(e => e.PromptTokens.Length + e.CompletionTokens.Length <= _s.Policy.ContextLength)
            .ToList();
        if (examples.Count < 2) throw new InvalidOperationException("the task has fewer than 2 demonstrations that fit the context");
        new Random(_s.Pipeline.Seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(examples));
        var validation = Math.Max(1, (int)Math.Round(examples.Count * ws.ValidationFraction));
        _sftValidation = examples.Take(validation).ToList();
        _sftTrain = examples.Skip(validation).ToList();
        _sft = new SftTrainer(_policy, ws.LearningRate, ws.WeightDecay, _s.Pipeline.Grpo.MaxGradNorm);
        // Nothing else computes during the warm-start: use every core (OpenMP thread counts are per calling thread).
        Learning.TorchRuntime.Configure(Environment.ProcessorCount);

        if (_s.Resume is { Stage: CheckpointStages.WarmStart } r)
        {
            // Every placement (a cluster learner too): adapters load only over the exact base they were trained on.
            CheckpointStore.RequireSameBase(r.CheckpointDir, _s.Policy.AdapterCheckpoint()?.BasePath);
            var meta = CheckpointStore.Load(r.CheckpointDir, _policy, _sft.Optimizer);
            _epoch = (int)meta.Step;
            _bestValidation = meta.Extra.TryGetValue("best_validation", out var b) ? double.Parse(b, System.Globalization.CultureInfo.InvariantCulture) : double.PositiveInfinity;
            _epochBatch = meta.Extra.TryGetValue(EpochBatchKey, out var p) ? int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) : 0;
            _log.Info("Resumed warm-start at epoch {0}", _epoch);
        }
        _log.Info("Warm-start: {0} demonstrations ({1} held for validation), up to {2} epochs", _sftTrain.Count, _sftValidation.Count, ws.MaxEpochs);
        Become(WarmStarting);
        Self.Tell(new SftEpoch(_epoch + 1));
    }

    private void WarmStarting()
    {
        Receive<SftEpoch>(RunEpoch);
        Receive<UpstreamChanged>(_ => { });
        Receive<Interrupt>(_ =>
        {
            WriteCheckpoint(CheckpointStages.WarmStart, _epoch, _sft!.Optimizer);
            Context.Parent.Tell(new GrpoCompleted(_step, _version, null, true));
            Become(Done);
        });
    }

    private void RunEpoch(SftEpoch msg)
    {
        var ws = _s.Pipeline.WarmStart;
        if (msg.Epoch > ws.MaxEpochs || _epochsWithoutImprovement >= ws.Patience)
        {
            FinishWarmStart();
            return;
        }
        var started = Stopwatch.GetTimestamp();
        var order = Enumerable.Range(0, _sftTrain.Count).ToArray();
        new Random(unchecked(_s.Pipeline.Seed * 7919 + msg.Epoch)).Shuffle(order);
        var lossSum = 0.0;
        var batches = 0;
        var tokens = 0L;
        var first = _epochBatch;  // > 0 only when resuming an epoch that an interrupt cut short
        _epochBatch = 0;
        for (var i = first; i < order.Length; i += ws.BatchSize)
        {
            if (_s.Interrupt.IsCancellationRequested)
            {
                // The Interrupt message is next in the mailbox: it checkpoints this epoch's position, so a resume continues here.
                _epochBatch = i;
                return;
            }
            var batch = order.Skip(i).Take(ws.BatchSize).Select(j => _sftTrain[j]).ToList();
            var loss = _sft!.Step(batch);
            if (double.IsFinite(loss)) { lossSum += loss; batches++; }
            tokens += batch.Sum(b => b.PromptTokens.Length + b.CompletionTokens.Length);
        }
        var validation = _sft!.Evaluate(_sftValidation);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        _epoch = msg.Epoch;
        if (validation < _bestValidation - 1e-4)
        {
            _bestValidation = validation;
            _best = WeightTransfer.Export(_policy, 0);
            _epochsWithoutImprovement = 0;
        }
        else
        {
            _epochsWithoutImprovement++;
        }
        _metrics.Tell(new MetricsReport(_epoch, new Dictionary<string, double>
        {
            ["sft/epoch"] = _epoch,
            ["sft/loss"] = batches > 0 ? lossSum / batches : double.NaN,
            ["sft/val_loss"] = validation,
            ["sft/best_val_loss"] = _bestValidation,
            ["timing_s/sft_epoch"] = elapsed,
            ["throughput/sft_tokens_per_s"] = tokens / Math.Max(elapsed, 1e-9),
        }));
        Self.Tell(new SftEpoch(_epoch + 1));
    }

    private void FinishWarmStart()
    {
        if (_best is not null) WeightTransfer.Import(_policy, _best);
        var snapshot = WeightTransfer.Export(_policy, 0);
        _sft?.Dispose();
        _sft = null;
        _version = 0;
        _step = 0;
        // The frozen KL reference (= the warm-started policy) lives apart from the rotating checkpoints,
        // so --resume always finds it; it is also where GRPO starts when a run stops before its first GRPO step.
        WriteCheckpoint(CheckpointStages.WarmStartDone, 0, null);
        Become(Idle);
        Context.Parent.Tell(new WarmStartCompleted(snapshot, _epoch, _bestValidation));
    }

    // ---------------- stage 2: GRPO ----------------

    private void BeginGrpo(StartGrpo start)
    {
        Learning.TorchRuntime.Configure(_s.Pipeline.TorchThreads);
        var g = _s.Pipeline.Grpo;
        var gen = _s.Pipeline.Generation;
        // With LoRA the KL reference is the policy's own frozen base (adapters off): no second copy of the weights.
        var lora = Learning.Lora.LoraAdapters.HasAdapters(_policy);
        if (!lora)
        {
            _reference = _s.Policy.Create(_s.Pipeline.Seed);
            WeightTransfer.Import(_reference, start.Reference);
        }
        _grpo = new GrpoTrainer(_policy, g.KlCoef > 0 ? (lora ? _policy : _reference) : null, new GrpoSettings(
            LearningRate: g.LearningRate, WeightDecay: g.WeightDecay, MaxGradNorm: g.MaxGradNorm,
            ClipLow: g.ClipLow, ClipHigh: g.ClipHigh, KlCoef: g.KlCoef, IsCap: g.IsCap,
            Temperature: gen.Temperature > 0 ? gen.Temperature : 1.0, MiniBatches: g.MiniBatches, Epochs: g.Epochs, EntropyCoef: g.EntropyCoef));

        if (_s.Resume is { Stage: CheckpointStages.Grpo } r)
        {
            // Every placement (a cluster learner too): adapters load only over the exact base they were trained on.
            CheckpointStore.RequireSameBase(r.CheckpointDir, _s.Policy.AdapterCheckpoint()?.BasePath);
            var meta = CheckpointStore.Load(r.CheckpointDir, _policy, _grpo.Optimizer);
            _step = meta.Step;
            _version = Math.Max(meta.PolicyVersion, r.VersionFloor);
            _dataCursor = meta.DataCursor;
            _log.Info("Resumed GRPO at step {0}, policy version {1}", _step, _version);
        }
        else if (_s.Resume is { Stage: CheckpointStages.WarmStartDone } w)
        {
            WeightTransfer.Import(_policy, start.Reference);
            _version = w.VersionFloor;
        }

        _live = new LiveWeights(_policy);
        Become(Training);
        Publish();
        if (_step >= g.Steps) { Finish(); return; }
        RequestNextBatch();
    }

    private void Training()
    {
        Receive<TrainingBatch>(Train);
        Receive<RequestLatestWeights>(_ => Sender.Tell(new PolicyWeights(_published!)));
        Receive<NewerWeightsWanted>(_ => { });  // every version is published on the EventStream as it is made
        Receive<UpstreamChanged>(changed =>
        {
            if (changed.Name != "buffer") return;
            _buffer.Tell(new PolicyVersionAdvanced(_version));
            if (!Timers.IsTimerActive(BatchDeadlineTimer)) return;  // no batch request is waiting
            _log.Warning("The buffer was replaced while batch request {0} waited: asking the new one", _requestId);
            _buffer.Tell(new RequestBatch(_requestId, _s.Pipeline.Grpo.BatchGroups, _version));
        });
        Receive<BatchDeadline>(d =>
        {
            if (d.RequestId != _requestId) return;
            var reason = $"no training batch within {_s.Pipeline.Timeouts.BatchWait.TotalSeconds:0}s at policy version {_version}: generation or annotation has stalled";
            _log.Error(reason);
            Context.Parent.Tell(new RunFailed(reason));
        });
        Receive<Interrupt>(_ =>
        {
            WriteCheckpoint(CheckpointStages.Grpo, _step, _grpo!.Optimizer);
            Context.Parent.Tell(new GrpoCompleted(_step, _version, null, true));
            Become(Done);
        });
    }

    private void RequestNextBatch()
    {
        _requestId++;
        _waitStarted = Stopwatch.GetTimestamp();
        _buffer.Tell(new RequestBatch(_requestId, _s.Pipeline.Grpo.BatchGroups, _version));
        Timers.StartSingleTimer(BatchDeadlineTimer, new BatchDeadline(_requestId), _s.Pipeline.Timeouts.BatchWait);
    }

    /// <summary>Dense feedback: the spans valid signals marked on the completion, as per-token advantage bonuses.</summary>
    private float[]? DenseBonus(Rollout rollout, RolloutRewards rewards)
    {
        var dense = _s.Pipeline.Rewards.DenseWeight;
        if (dense == 0 || rollout.CompletionTokens.Length == 0) return null;
        List<(IReadOnlyList<SpanReward>, double)>? marked = null;
        foreach (var signal in rewards.Signals)
        {
            if (!signal.Valid || signal.Spans is not { Count: > 0 } spans) continue;
            var weight = _s.Pipeline.RewardSources.FirstOrDefault(x => x.Name == signal.Source)?.Weight ?? 0;
            (marked ??= []).Add((spans, dense * weight));
        }
        if (marked is null) return null;
        // Character offset of each completion token: the length of the decoded prefix before it.
        var starts = new int[rollout.CompletionTokens.Length];
        for (var t = 1; t < starts.Length; t++) starts[t] = _tokenizer.Decode(rollout.CompletionTokens.AsSpan(0, t)).Length;
        var bonus = DenseRewards.TokenBonus(marked, starts, rollout.CompletionText.Length);
        if (bonus is not null) _denseTokens += bonus.Count(b => b != 0);
        return bonus;
    }

    private void Train(TrainingBatch batch)
    {
        if (batch.RequestId != _requestId) return;
        Timers.Cancel(BatchDeadlineTimer);
        var waited = Stopwatch.GetElapsedTime(_waitStarted).TotalSeconds;
        var g = _s.Pipeline.Grpo;

        var samples = new List<TrainSample>();
        var fresh = new List<AnnotatedGroup>();
        var overlong = 0;
        foreach (var group in batch.Groups)
        {
            var staleness = _version - group.Group.PolicyVersion;
            if (staleness > g.MaxStaleness || staleness < 0)
            {
                // An assertion, not the bound: the buffer enforces staleness at serve time (docs/architecture.md), so this stays 0.
                _droppedStale++;
                _log.Error("The buffer served group {0} of policy version {1} at learner version {2} (max staleness {3}): skipped",
                    group.Group.GroupId, group.Group.PolicyVersion, _version, g.MaxStaleness);
                continue;
            }
            fresh.Add(group);
            _dataCursor = Math.Max(_dataCursor, group.PromptCursor);
            var rewards = group.Rewards.Select(r => r.Reward).ToArray();
            var valid = group.Rewards.Select(r => r.Valid).ToArray();
            var advantages = GroupAdvantages.Compute(rewards, valid);
            for (var i = 0; i < group.Group.Rollouts.Length; i++)
            {
                if (!valid[i]) continue; // masked: an invalid reward contributes nothing, not a zero
                var r = group.Group.Rollouts[i];
                if (g.OverlongFilter && r.Truncated)
                {
                    overlong++; // DAPO: a cut-off answer is not judged on its ending; its group's statistics still count it
                    continue;
                }
                samples.Add(new TrainSample(r.PromptTokens, r.CompletionTokens, r.BehaviourLogProbs, advantages[i], r.PolicyVersion)
                {
                    TokenBonus = DenseBonus(r, group.Rewards[i]),
                });
            }
        }

        var update = Stopwatch.GetTimestamp();
        _live!.BeginUpdate();  // readers of the current version finish their chunk first; later ones ask for the next version
        // Linear warm-up: step k (from 0) trains at (k + 1) / warmup of the learning rate.
        _grpo!.LearningRate = g.LearningRate * (g.WarmupSteps > 0 ? Math.Min(1.0, (_step + 1.0) / g.WarmupSteps) : 1.0);
        GrpoStepStats? stats = samples.Count > 0 ? _grpo.Step(samples) : null;
        var updateSeconds = Stopwatch.GetElapsedTime(update).TotalSeconds;

        _step++;
        _version++; // a skipped or empty step still advances the version, so admission never stalls
        var sync = Stopwatch.GetTimestamp();
        Publish();
        var syncSeconds = Stopwatch.GetElapsedTime(sync).TotalSeconds;

        var stepSeconds = _stepStarted == 0 ? waited + updateSeconds + syncSeconds : Stopwatch.GetElapsedTime(_stepStarted).TotalSeconds;
        _stepStarted = Stopwatch.GetTimestamp();
        var data = BatchMetrics.Compute(fresh, _version - 1);
        // A step whose rollouts are all masked trains on nothing (no optimizer step); the ledger counts such steps.
        var invalidTooLong = _validity.Observe(fresh, samples.Count);
        _validity.AddMetrics(data);
        data["timing_s/wait"] = waited;
        data["timing_s/update"] = updateSeconds;
        data["timing_s/sync"] = syncSeconds;
        data["timing_s/step"] = stepSeconds;
        data["throughput/rollouts_per_s"] = fresh.Sum(f => f.Group.Rollouts.Length) / Math.Max(stepSeconds, 1e-9);
        data["throughput/tokens_per_s"] = fresh.Sum(f => f.Group.TokenCount) / Math.Max(stepSeconds, 1e-9);
        data["policy/version"] = _version;
        data["learner/dropped_stale"] = _droppedStale;
        data["learner/samples"] = samples.Count;
        data["buffer/depth"] = batch.Stats.Depth;
        data["buffer/dropped_stale"] = batch.Stats.DroppedStale;
        data["buffer/dropped_late"] = batch.Stats.DroppedLate;
        data["buffer/dropped_uninformative"] = batch.Stats.DroppedUninformative;
        data["admission/capacity"] = batch.Stats.Capacity;
        data["admission/running"] = batch.Stats.Running;
        data["admission/credits_expired"] = batch.Stats.CreditsExpired;
        data["admission/credits_released"] = batch.Stats.CreditsReleased;
        if (stats is not null)
        {
            data["actor/loss"] = stats.Loss;
            data["actor/pg_loss"] = stats.PgLoss;
            data["actor/kl"] = stats.Kl;
            data["actor/pg_clipfrac"] = stats.ClipFrac;
            data["actor/entropy"] = stats.Entropy;
            data["actor/grad_norm"] = stats.GradNorm;
            data["is_ratio/mean"] = stats.IsRatioMean;
            data["is_ratio/max"] = stats.IsRatioMax;
            data["mismatch_kl"] = stats.MismatchKl;
            data["actor/tokens"] = stats.Tokens;
        }
        data["actor/skipped_steps"] = _grpo!.SkippedSteps;
        data["actor/lr"] = _grpo.LearningRate;
        data["response/overlong_filtered"] = overlong;
        data["reward/dense_tokens"] = _denseTokens;
        foreach (var source in _s.SourceMetrics) source.AddMetrics(data);
        _metrics.Tell(new MetricsReport(_step, data));
        Context.Parent.Tell(_validity.Summary());
        if (invalidTooLong is not null)
        {
            _log.Error(invalidTooLong);
            // Kept so that the run can be resumed once the source answers again.
            WriteCheckpoint(CheckpointStages.Grpo, _step, _grpo.Optimizer);
            Context.Parent.Tell(new RunFailed(invalidTooLong));
            Become(Done);
            return;
        }

        var c = _s.Pipeline.Checkpoint;
        if (c.EverySteps > 0 && _step % c.EverySteps == 0 && _step < g.Steps)
            WriteCheckpoint(CheckpointStages.Grpo, _step, _grpo.Optimizer);
        var e = _s.Pipeline.Eval;
        if (e.EverySteps > 0 && _step % e.EverySteps == 0 && _step < g.Steps)
            _evaluator.Tell(new EvaluatePolicy($"step {_step}", _step, WeightTransfer.Export(_policy, _version)));

        if (_step >= g.Steps) Finish();
        else RequestNextBatch();
    }

    private void Finish()
    {
        WriteCheckpoint(CheckpointStages.Grpo, _step, _grpo!.Optimizer);
        Context.Parent.Tell(new GrpoCompleted(_step, _version, WeightTransfer.Export(_policy, _version), false));
        Become(Done);
    }

    private void Done()
    {
        Receive<TrainingBatch>(_ => { });
        Receive<BatchDeadline>(_ => { });
        Receive<RequestLatestWeights>(_ => { });
        Receive<NewerWeightsWanted>(_ => { });
        Receive<Interrupt>(_ => { });
        Receive<UpstreamChanged>(_ => { });
    }

    private void Publish()
    {
        _published = _live!.Publish(_version);
        Context.System.EventStream.Publish(new PolicyWeights(_published));
        _buffer.Tell(new PolicyVersionAdvanced(_version));
    }

    private void WriteCheckpoint(string stage, long step, TorchSharp.torch.optim.Optimizer? optimizer)
    {
        // The policy settings travel with the weights, so a resume with a different model shape is refused by name.
        var extra = _s.Policy.CheckpointExtras();
        extra["best_validation"] = _bestValidation.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        if (stage == CheckpointStages.WarmStart && _epochBatch > 0) extra[EpochBatchKey] = _epochBatch.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var meta = CheckpointMeta.Create(step, _version, stage, _dataCursor, _s.Pipeline.Seed, null, extra);
        var root = CheckpointStages.Root(_s.RunDir, stage);
        var keep = stage == CheckpointStages.WarmStartDone ? 1 : _s.Pipeline.Checkpoint.Keep;
        // With LoRA only the adapters are written (PEFT layout); the frozen base is fingerprinted, not copied.
        var path = CheckpointStore.Save(root, _policy, optimizer, meta, keep, _s.Policy.AdapterCheckpoint());
        _log.Info("Checkpoint {0} (stage {1}, step {2}, version {3})", path, stage, step, _version);
        Context.Parent.Tell(new CheckpointWritten(path, step, _version));
    }
}

/// <summary>Stage names stored in checkpoints.</summary>
public static class CheckpointStages
{
    public const string WarmStart = "warm-start";
    public const string WarmStartDone = "warm-start-done";
    public const string Grpo = "grpo";

    /// <summary>Each stage keeps its checkpoints under its own folder, so step numbers of different stages never collide.</summary>
    public static string Root(string runDir, string stage) => stage switch
    {
        WarmStart => Path.Combine(runDir, "warm-start"),
        WarmStartDone => Path.Combine(runDir, "reference"),
        _ => runDir,
    };
}
