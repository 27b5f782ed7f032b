using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

public enum RunStatus { Completed, Interrupted, Failed }

/// <summary>What a run produced: the held-out scores before and after GRPO, and where it stopped.</summary>
public sealed record RunResult(RunStatus Status, string RunDir, EvalReport? WarmStart, EvalReport? Final, long Step, long PolicyVersion, string? Error)
{
    /// <summary>The GRPO stage's masked rollouts and invalid signals, as the learner last reported them (null: no GRPO step ran here).</summary>
    public RewardMasking? Masking { get; init; }
}

/// <summary>
/// Starts every role of one run as its child, watches them, sequences the stages (warm-start, warm-start
/// evaluation, GRPO, final evaluation) and completes the run's result. A dead generator is replaced (its credit
/// is released by the buffer, so its group is re-issued); any other dead child fails the run with its reason.
/// The same wiring serves local mode, and is what cluster mode places on nodes.
/// </summary>
public sealed class RunSupervisor : ReceiveActor
{
    /// <param name="Run">What every placement shares: settings, run folder, tokenizer, policy, resume point, KL reference.</param>
    /// <param name="Completion">Completed with the run's result when it ends.</param>
    public sealed record Inputs(RunContext Run, IPipelineTask Task, TaskCompletionSource<RunResult> Completion)
    {
        /// <summary>The held-out scores of the warm-start, when an earlier attempt of this run wrote them.</summary>
        public EvalReport? WarmStartEval { get; init; }

        /// <summary>Sees every metrics row as it is written.</summary>
        public Action<MetricsReport>? Observer { get; init; }

        /// <summary>The reward sources of this supervisor's annotation stage (none in cluster mode: annotator nodes score).</summary>
        public IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> Sources { get; init; } = [];

        /// <summary>ONI mode's parts (critic labeller, reward-model trainer), or null.</summary>
        public Hosting.OniParts? Oni { get; init; }

        /// <summary>
        /// Whether this supervisor starts the generators itself (local mode, the default). Cluster mode sets false on the
        /// learner node: generators run on generator nodes and reach the buffer, prompts and learner over remoting.
        /// </summary>
        public bool LocalGenerators { get; init; } = true;

        /// <summary>
        /// The replay buffer to use instead of starting one (with its prompt source) as a child: cluster mode's link to the
        /// buffer singleton, which may live on another node. Null (the default): this supervisor starts and watches them.
        /// </summary>
        public IActorRef? Buffer { get; init; }

        /// <summary>More counters for the learner's metrics rows (cluster mode: the annotator and critic nodes' reward sources', ONI's from the rm-trainer node).</summary>
        public IReadOnlyList<IReportsMetrics> ExtraMetrics { get; init; } = [];
    }

    /// <summary>The replay buffer's ledger, written into the run folder when the run stops (<see cref="BufferLedger"/>).</summary>
    public const string AccountingFile = "accounting.json";

    private readonly Inputs _in;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<IActorRef> _generators = [];
    private IActorRef _metrics = ActorRefs.Nobody;
    private IActorRef _evaluator = ActorRefs.Nobody;
    private IActorRef _buffer = ActorRefs.Nobody;
    private IActorRef _prompts = ActorRefs.Nobody;
    private IActorRef _annotator = ActorRefs.Nobody;
    private IActorRef _learner = ActorRefs.Nobody;
    private EvalReport? _warmStartEval;
    private EvalReport? _finalEval;
    private GrpoCompleted? _grpoDone;
    private RewardMasking? _masking;
    private bool _finished;
    private int _generatorSerial;
    private int _generatorRestarts;

    public RunSupervisor(Inputs inputs)
    {
        _in = inputs;
        _warmStartEval = inputs.WarmStartEval;
        Receive<StartRun>(_ => Start());
        Receive<WarmStartCompleted>(HandleWarmStart);
        Receive<EvaluationCompleted>(HandleEvaluation);
        Receive<GrpoCompleted>(HandleGrpoDone);
        Receive<CheckpointWritten>(c => _log.Debug("checkpoint {0}", c.Path));
        Receive<Interrupt>(_ =>
        {
            _log.Warning("Interrupted: writing a checkpoint, then stopping");
            StopGenerators();
            _learner.Tell(Interrupt.Instance);
        });
        Receive<RunFailed>(f => Complete(RunStatus.Failed, f.Reason));
        Receive<RewardMasking>(m => _masking = m);
        Receive<Terminated>(HandleTerminated);
    }

    public static Props Props(Inputs inputs) => Akka.Actor.Props.Create(() => new RunSupervisor(inputs));

    /// <summary>Every child failure stops that child; this actor decides what the loss means.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _log.Error(e, "A pipeline role failed");
        return Directive.Stop;
    });

    protected override void PreStart()
    {
        var run = _in.Run;
        _metrics = Watch(RoleBuilders.Metrics(run, _in.Observer), "metrics");
        _evaluator = Watch(RoleBuilders.Evaluator(run, _in.Task, _metrics), "evaluator");
        if (_in.Buffer is { } external)
            _buffer = external;
        else
        {
            _prompts = Watch(RoleBuilders.Prompts(run.Settings, _in.Task, run.Resume), "prompts");
            _buffer = Watch(RoleBuilders.Buffer(run.Settings, run.RunDir, run.Resume, _prompts), "buffer");
        }
        IActorRef? labeller = null;
        if (_in.Oni is { } oni)
        {
            var trainer = Watch(RoleBuilders.OniTrainer(oni), "rm-trainer");
            labeller = Watch(RoleBuilders.OniLabeller(oni, trainer), "critic-labeller");
            foreach (var (props, name) in RoleBuilders.RewardModelSubscribers(_in.Sources.Select(x => x.Source)))
                Watch(props, name);
        }
        // The annotation stage scores this supervisor's own generators' groups; with generators elsewhere (cluster mode)
        // their nodes' stages do.
        if (_in.LocalGenerators)
            _annotator = Watch(RoleBuilders.AnnotationStage(run.Settings, WithSlowPool(_in.Sources), _buffer, labeller), "annotation");
        var counters = _in.Sources.Select(x => x.Source).OfType<IReportsMetrics>()
            .Concat(_in.Oni is { } o ? RoleBuilders.OniCounters(o) : [])
            .Concat(_in.ExtraMetrics).ToList();
        _learner = Watch(RoleBuilders.Learner(run, _in.Task, counters, _buffer, _metrics, _evaluator), "learner");
    }

    private IActorRef Watch(Props props, string name) => Context.Watch(Context.ActorOf(props, name));

    /// <summary>Slow sources (remote judges) are called through their own pool actor, with its bounded queue.</summary>
    private IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> WithSlowPool(IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources)
        => SlowSourcePool.Wrap(sources, _in.Run.Settings.Rewards.SlowWorkers, _in.Run.Settings.Rewards.SlowQueue, Watch);

    private void Start()
    {
        switch (_in.Run.Resume?.Stage)
        {
            case CheckpointStages.Grpo or CheckpointStages.WarmStartDone when _in.Run.Reference is not null:
                _log.Info("Resuming GRPO from {0}", _in.Run.Resume!.CheckpointDir);
                if (_warmStartEval is null) _evaluator.Tell(new EvaluatePolicy("warm-start", 0, _in.Run.Reference));
                BeginGrpo(_in.Run.Reference);
                break;
            default:
                if (_in.Run.Settings.WarmStart.Enabled || _in.Run.Resume is not null) _learner.Tell(new Learner.StartWarmStart());
                else Self.Tell(new WarmStartCompleted(SnapshotOfFreshPolicy(), 0, double.NaN));
                break;
        }
    }

    private WeightSnapshot SnapshotOfFreshPolicy()
    {
        using var model = _in.Run.Policy.Create(_in.Run.Settings.Seed);
        return WeightTransfer.Export(model, 0);
    }

    private void HandleWarmStart(WarmStartCompleted done)
    {
        _log.Info("Warm-start finished after {0} epochs (validation loss {1:0.0000})", done.Epochs, done.ValidationLoss);
        _evaluator.Tell(new EvaluatePolicy("warm-start", 0, done.Snapshot));
        BeginGrpo(done.Snapshot);
    }

    private void BeginGrpo(WeightSnapshot reference)
    {
        _learner.Tell(new Learner.StartGrpo(reference));
        if (!_in.LocalGenerators) return;
        for (var i = 0; i < _in.Run.Settings.Generation.Generators; i++) StartGenerator();
    }

    private void StartGenerator()
    {
        // The slot numbers every generator this supervisor ever started, so a replacement samples with a seed of its own.
        var slot = ++_generatorSerial;
        var id = $"generator-{slot - 1}";
        _generators.Add(Watch(RoleBuilders.Generator(_in.Run, id, slot, _buffer, _annotator, _learner), id));
    }

    private void StopGenerators()
    {
        foreach (var g in _generators) { Context.Unwatch(g); Context.Stop(g); }
        _generators.Clear();
    }

    private void HandleEvaluation(EvaluationCompleted done)
    {
        if (done.Label == "warm-start")
        {
            _warmStartEval = done.Report;
            EvalReportFile.Write(Path.Combine(_in.Run.RunDir, LocalRun.WarmStartEvalFile), done.Report, done.PolicyVersion);
        }
        else if (done.Label == "final")
        {
            _finalEval = done.Report;
            EvalReportFile.Write(Path.Combine(_in.Run.RunDir, "eval_final.json"), done.Report, done.PolicyVersion);
        }
        TryFinish();
    }

    private void HandleGrpoDone(GrpoCompleted done)
    {
        _grpoDone = done;
        StopGenerators();
        if (done.Interrupted) { Complete(RunStatus.Interrupted, null); return; }
        _evaluator.Tell(new EvaluatePolicy("final", done.Step, done.Final!));
    }

    private void TryFinish()
    {
        if (_grpoDone is { Interrupted: false } && _finalEval is not null && _warmStartEval is not null)
            Complete(RunStatus.Completed, null);
    }

    private void HandleTerminated(Terminated t)
    {
        if (_finished) return;
        if (_generators.Remove(t.ActorRef))
        {
            _generatorRestarts++;
            _log.Warning("{0} died; starting a replacement ({1} so far). Its credit is released and its group re-issued.", t.ActorRef.Path.Name, _generatorRestarts);
            if (_generatorRestarts > 10 * _in.Run.Settings.Generation.Generators)
                Complete(RunStatus.Failed, "generators keep failing; see the log");
            else
                StartGenerator();
            return;
        }
        Complete(RunStatus.Failed, $"pipeline role '{t.ActorRef.Path.Name}' stopped unexpectedly; see the log above");
    }

    private void Complete(RunStatus status, string? error)
    {
        if (_finished) return;
        _finished = true;
        StopGenerators();
        _in.Completion.TrySetResult(new RunResult(status, _in.Run.RunDir, _warmStartEval, _finalEval,
            _grpoDone?.Step ?? 0, _grpoDone?.PolicyVersion ?? 0, error) { Masking = _masking });
    }
}
