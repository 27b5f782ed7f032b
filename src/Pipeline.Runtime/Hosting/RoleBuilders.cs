using Akka.Actor;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Sampling;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// The one place each role's actor and its settings are built. Local mode (<see cref="RunSupervisor"/>, one
/// ActorSystem) and cluster mode (singletons and nodes in Pipeline.Cluster) call these; a placement decides only where
/// the returned <see cref="Props"/> run and which references (local children, or links to other nodes) they are given.
/// </summary>
public static class RoleBuilders
{
    /// <summary>
    /// Groups an annotation stage may hold at once: every group the buffer can have admitted for the current and the
    /// <c>max-staleness</c> older versions, one batch being trained, plus one per generator.
    /// </summary>
    public static int MaxInFlight(PipelineSettings s) => (s.Grpo.MaxStaleness + 2) * s.Grpo.BatchGroups + s.Generation.Generators;

    /// <summary>
    /// The policy version the buffer starts at, the one the learner will publish first: a GRPO checkpoint's version (never
    /// below the floor), else the floor (a warm-start resumes GRPO at it), else 0.
    /// </summary>
    public static long StartVersion(Learner.ResumePoint? resume)
        => resume is { Stage: CheckpointStages.Grpo } r ? Math.Max(r.PolicyVersion, r.VersionFloor) : resume?.VersionFloor ?? 0;

    /// <summary>A generator's sampling seed; <paramref name="slot"/> is unique in the run (a placement numbers its generators so).</summary>
    public static long GeneratorSeed(PipelineSettings s, long slot) => s.Seed * 1000L + slot;

    /// <summary>The prompt source: the task's RL prompts in the run's seeded order, from the resume point's cursor.</summary>
    public static Props Prompts(PipelineSettings s, IPipelineTask task, Learner.ResumePoint? resume)
        => PromptSource.Props(task.RlPrompts, s.Seed, resume?.DataCursor ?? 0);

    /// <summary>The replay buffer, at <see cref="StartVersion"/>, writing its ledger into the run folder when it stops.</summary>
    /// <param name="clock">The placement's clock (credit expiry); null: <see cref="RunClock.Real"/>.</param>
    public static Props Buffer(PipelineSettings s, string runDir, Learner.ResumePoint? resume, IActorRef prompts, RunClock? clock = null)
        => ReplayBuffer.Props(ReplayBuffer.Settings.For(s, StartVersion(resume), Path.Combine(runDir, RunSupervisor.AccountingFile))
            with { Clock = (clock ?? RunClock.Real).Time }, prompts);

    /// <summary>A generator named <paramref name="id"/>; <paramref name="weights"/> answers its weight requests (the learner, or a node's weights bridge).</summary>
    public static Props Generator(RunContext run, string id, long slot, IActorRef buffer, IActorRef annotator, IActorRef weights,
        Generator.Counter? counter = null)
    {
        var s = run.Settings;
        var sampling = new SamplingSettings(s.Generation.Temperature, s.Generation.TopP, s.Generation.MaxTokens, [.. run.Tokenizer.StopTokens]);
        // pipeline.generation.device/dtype place the generators' copy apart from the learner's; weights convert on arrival.
        var settings = new Generator.Settings(s.TorchThreads, id, run.Policy.PlacedOn(s.Generation.Device, s.Generation.Dtype), sampling,
            s.Generation.GroupSize, GeneratorSeed(s, slot), s.Generation.WeightsWait)
        {
            Clock = run.Clock.Time,
            Sampler = run.Samplers is { } samplers ? () => samplers(id, GeneratorSeed(s, slot)) : null,
        };
        return Actors.Generator.Props(settings, run.Tokenizer, buffer, annotator, weights, counter);
    }

    /// <summary>
    /// The annotation stage over <paramref name="sources"/> (slow ones already behind the placement's pool or router),
    /// composing their signals as <c>pipeline.rewards</c> says; <paramref name="labeller"/> (ONI) sees every group.
    /// </summary>
    public static Props AnnotationStage(PipelineSettings s, IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources,
        IActorRef buffer, IActorRef? labeller, RunClock? clock = null)
        => Actors.AnnotationStage.Props(sources, buffer, MaxInFlight(s),
            new RewardComposer(sources.Select(x => x.Spec).ToList(), s.Rewards.Aggregation, s.Rewards.TotalNormalizer), labeller, clock);

    /// <summary>One reward-model subscriber per ONI intrinsic source, with its actor name: each loads every reward model published.</summary>
    public static IEnumerable<(Props Props, string Name)> RewardModelSubscribers(IEnumerable<IRewardSource> sources)
        => sources.OfType<IntrinsicRewardSource>().Select(x => (RewardModelSubscriber.Props(x), "rm-subscriber-" + x.Name));

    /// <summary>ONI's reward-model trainer.</summary>
    public static Props OniTrainer(OniParts oni) => RewardModelTrainer.Props(oni.TrainerModel, oni.Trainer, oni.Stats);

    /// <summary>ONI's critic labeller, feeding <paramref name="trainer"/>.</summary>
    public static Props OniLabeller(OniParts oni, IActorRef trainer) => CriticLabeller.Props(oni.LabelCritic, trainer, oni.Labeller, oni.Stats);

    /// <summary>ONI's counters (labels, reward-model version and loss, critic queue), for the learner's rows.</summary>
    public static IReadOnlyList<IReportsMetrics> OniCounters(OniParts oni)
        => new object?[] { oni.Stats, oni.LabelCritic }.OfType<IReportsMetrics>().ToList();

    /// <summary>The metrics recorder, writing into the run folder; <paramref name="observer"/> sees every row.</summary>
    public static Props Metrics(RunContext run, Action<MetricsReport>? observer)
        => MetricsRecorder.Props(run.RunDir, run.Settings.Metrics.TensorBoard, run.Settings.Metrics.Plots, observer);

    /// <summary>The held-out evaluator, on its own model copy.</summary>
    public static Props Evaluator(RunContext run, IPipelineTask task, IActorRef metrics)
    {
        var s = run.Settings;
        return Actors.Evaluator.Props(new Evaluator.Settings(s.TorchThreads, run.Policy, s.Generation.MaxTokens, s.Eval.Limit, s.Seed) { Interrupt = run.Interrupt },
            run.Tokenizer, task, metrics);
    }

    /// <summary>The learner; <paramref name="counters"/> are the reward sources' and ONI's counters added to its metrics rows.</summary>
    public static Props Learner(RunContext run, IPipelineTask task, IReadOnlyList<IReportsMetrics> counters, IActorRef buffer, IActorRef metrics,
        IActorRef evaluator)
        => Actors.Learner.Props(new Learner.Settings(run.Settings, run.Policy, run.RunDir, run.Resume) { Interrupt = run.Interrupt, SourceMetrics = counters },
            run.Tokenizer, task, buffer, metrics, evaluator);
}
