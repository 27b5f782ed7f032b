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
    /// <summary>The policy's own tensors as the source of every published version (no copy per version).</summary>
    private LiveWeights? _live;
    private IWeightSource? _published;
    private SftTrainer? _sft;
    private GrpoStep? _grpo;

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
    private long _waitStarted;

    public ITimerScheduler Timers { get; set; } = null!;

    public Learner(Settings settings, IPolicyTokenizer tokenizer, IPipelineTask task, IActorRef buffer, IActorRef metrics, IActorRef evaluator)
    {
        _s = settings;
        _tokenizer = tokenizer;
        _task = task;
        _buffer = buffer;
        _metrics = metrics;
        _evaluator = evaluator;
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
        _grpo = new GrpoStep(_s.Pipeline, _s.Policy, _policy, start.Reference, _tokenizer, _s.SourceMetrics, _log);

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
        Announce(_live.Publish(_version));
        if (_step >= _s.Pipeline.Grpo.Steps) { Finish(); return; }
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

    private void Train(TrainingBatch batch)
    {
        if (batch.RequestId != _requestId) return;
        Timers.Cancel(BatchDeadlineTimer);
        var waited = Stopwatch.GetElapsedTime(_waitStarted).TotalSeconds;
        var outcome = _grpo!.Run(batch, new TrainingPosition(_step, _version, _dataCursor), waited, _live!, Announce);
        (_step, _version, _dataCursor) = (outcome.Position.Step, outcome.Position.Version, outcome.Position.DataCursor);
        _metrics.Tell(new MetricsReport(_step, outcome.Metrics));
        Context.Parent.Tell(_grpo.Masking);
        if (outcome.Failure is { } failure)
        {
            _log.Error(failure);
            // Kept so that the run can be resumed once the source answers again.
            WriteCheckpoint(CheckpointStages.Grpo, _step, _grpo.Optimizer);
            Context.Parent.Tell(new RunFailed(failure));
            Become(Done);
            return;
        }

        var g = _s.Pipeline.Grpo;
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

    private void Announce(IWeightSource version)
    {
        _published = version;
        Context.System.EventStream.Publish(new PolicyWeights(_published));
        _buffer.Tell(new PolicyVersionAdvanced(version.Version));
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
