using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Owns the policy and the run's training messages. Stage 1: the supervised warm-start (<see cref="WarmStartStage"/>),
/// one epoch per message. Stage 2: GRPO: asks the replay buffer for a batch (with a deadline), trains on it with
/// <see cref="GrpoStep"/>, publishes every version, reports each step's metrics, and checkpoints and evaluates on the
/// <see cref="TrainingSchedule"/>.
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

    private readonly Settings _s;
    private readonly IPolicyTokenizer _tokenizer;
    private readonly IPipelineTask _task;
    private readonly IActorRef _buffer;
    private readonly IActorRef _metrics;
    private readonly IActorRef _evaluator;
    private readonly TrainingSchedule _schedule;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    private PolicyNetwork _policy = null!;
    /// <summary>The policy's own tensors as the source of every published version (no copy per version).</summary>
    private LiveWeights? _live;
    private IWeightSource? _published;
    private WarmStartStage? _warmStart;
    private GrpoStep? _grpo;

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
        _schedule = new TrainingSchedule(settings.Pipeline, settings.Policy, settings.RunDir);
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
    }

    protected override void PostStop()
    {
        _warmStart?.Dispose();
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
    }

    // ---------------- stage 1: supervised warm-start ----------------

    private void BeginWarmStart()
    {
        _warmStart = new WarmStartStage(_s.Pipeline, _s.Policy, _policy, _tokenizer, _task, _s.Resume, _log);
        Become(WarmStarting);
        Self.Tell(new SftEpoch(_warmStart.Epoch + 1));
    }

    private void WarmStarting()
    {
        Receive<SftEpoch>(RunEpoch);
        Receive<Interrupt>(_ =>
        {
            WriteCheckpoint(CheckpointStages.WarmStart, _warmStart!.Epoch, _warmStart.Optimizer);
            Context.Parent.Tell(new GrpoCompleted(_step, _version, null, true));
            Become(Done);
        });
    }

    private void RunEpoch(SftEpoch msg)
    {
        if (_warmStart!.StopsBefore(msg.Epoch))
        {
            FinishWarmStart();
            return;
        }
        // Cut short: the Interrupt message is next in the mailbox and checkpoints this epoch's position.
        if (_warmStart.RunEpoch(msg.Epoch, _s.Interrupt) is not { } row) return;
        _metrics.Tell(new MetricsReport(_warmStart.Epoch, row));
        Self.Tell(new SftEpoch(_warmStart.Epoch + 1));
    }

    private void FinishWarmStart()
    {
        var snapshot = _warmStart!.Finish();
        _version = 0;
        _step = 0;
        // The frozen KL reference (= the warm-started policy) lives apart from the rotating checkpoints,
        // so --resume always finds it; it is also where GRPO starts when a run stops before its first GRPO step.
        WriteCheckpoint(CheckpointStages.WarmStartDone, 0, null);
        Become(Idle);
        Context.Parent.Tell(new WarmStartCompleted(snapshot, _warmStart.Epoch, _warmStart.BestValidation));
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
        if (_schedule.Finished(_step)) { Finish(); return; }
        RequestNextBatch();
    }

    private void Training()
    {
        Receive<TrainingBatch>(Train);
        Receive<RequestLatestWeights>(_ => Sender.Tell(new PolicyWeights(_published!)));
        Receive<NewerWeightsWanted>(_ => { });  // every version is published on the EventStream as it is made
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

        if (_schedule.CheckpointDue(_step)) WriteCheckpoint(CheckpointStages.Grpo, _step, _grpo.Optimizer);
        if (_schedule.EvaluationDue(_step)) _evaluator.Tell(new EvaluatePolicy($"step {_step}", _step, WeightTransfer.Export(_policy, _version)));
        if (_schedule.Finished(_step)) Finish();
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
    }

    private void Announce(IWeightSource version)
    {
        _published = version;
        Context.System.EventStream.Publish(new PolicyWeights(_published));
        _buffer.Tell(new PolicyVersionAdvanced(version.Version));
    }

    private void WriteCheckpoint(string stage, long step, TorchSharp.torch.optim.Optimizer? optimizer)
    {
        var path = _schedule.Save(_policy, stage, step, _version, _dataCursor, optimizer, _warmStart);
        _log.Info("Checkpoint {0} (stage {1}, step {2}, version {3})", path, stage, step, _version);
        Context.Parent.Tell(new CheckpointWritten(path, step, _version));
    }
}
