using System.Globalization;
using Akka.Actor;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Learning;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// Local mode: one ActorSystem holding every role. Prepares the run folder (config snapshot, task databases,
/// tokenizer), resumes from the newest checkpoint when asked, starts the <see cref="RunSupervisor"/> and waits
/// for its result. Cancelling <c>interrupt</c> (Ctrl-C) writes a checkpoint before the system stops.
/// </summary>
public static class LocalRun
{
    public const string ConfigSnapshotFile = ConfigLayers.RunSnapshotFile;
    /// <summary>The warm-start's held-out scores in the run folder.</summary>
    public const string WarmStartEvalFile = "eval_warm_start.json";

    /// <summary>The run's tokenizer files (learned, or copied from the model folder), read back on resume and by eval and export.</summary>
    public const string TokenizerFolder = "tokenizer";

    public static async Task<RunResult> RunAsync(PipelineSettings settings, string runDir, bool resume,
        Action<MetricsReport>? observer, Action<string>? status, CancellationToken interrupt, RewardSourceRegistry? registry = null)
    {
        SettingsValidation.Check(settings);  // before the run folder exists: a bad setting leaves nothing behind
        Directory.CreateDirectory(runDir);
        TorchRuntime.Configure(settings.TorchThreads);
        var device = TorchRuntime.ResolveDevice(settings.Device);
        status?.Invoke($"run folder {runDir} (device {device.type})");

        if (!resume || !File.Exists(Path.Combine(runDir, ConfigSnapshotFile)))
            File.WriteAllText(Path.Combine(runDir, ConfigSnapshotFile), ConfigSnapshot(settings));

        using var task = TaskCatalog.Create(settings, runDir, warning => status?.Invoke("warning: " + warning));
        status?.Invoke($"task '{task.Name}': {task.Demonstrations.Count} demonstrations, {task.RlPrompts.Count} RL prompts, {task.HeldOut.Count} held-out");

        registry ??= BuiltInRewardSources.Registry();
        OniSetup.RegisterIntrinsic(registry, settings, runDir, resume);
        var sources = RewardSources.Build(settings, task, registry, warning => status?.Invoke("warning: " + warning));
        status?.Invoke("rewards: " + string.Join(", ", sources.Select(x =>
            $"{x.Spec.Name} ({x.Spec.Type}, {x.Source.Kind.ToString().ToLowerInvariant()}, w={x.Spec.Weight}{(x.Spec.Required ? ", required" : "")})")));
        OniParts? oni = null;
        try
        {
            oni = OniSetup.Build(settings, task, registry, runDir, resume, warning => status?.Invoke("warning: " + warning));
            if (oni is not null)
                status?.Invoke($"ONI: '{settings.Oni.LabelSource}' labels {settings.Oni.SamplingRate:P0} of completions for a {oni.TrainerModel.Variant} reward model");
            return await RunWithSourcesAsync(settings, runDir, resume, observer, status, interrupt, task, sources, oni).ConfigureAwait(false);
        }
        finally
        {
            RewardSources.Dispose(sources);
            oni?.Dispose();
        }
    }

    private static async Task<RunResult> RunWithSourcesAsync(PipelineSettings settings, string runDir, bool resume,
        Action<MetricsReport>? observer, Action<string>? status, CancellationToken interrupt, IPipelineTask task,
        IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources, OniParts? oni)
    {
        var run = RunContext.Open(settings, runDir, task, reuseTokenizer: resume) with { Interrupt = interrupt };
        var policy = run.Policy;
        status?.Invoke(policy.Describe());
        ContextFit.Check(task, run.Tokenizer, policy.ContextLength, settings.WarmStart.Enabled, warning => status?.Invoke("warning: " + warning));

        if (resume)
        {
            var problems = new List<string>();
            void Warn(string warning)
            {
                problems.Add(warning);
                status?.Invoke("warning: " + warning);
            }
            var resumePoint = FindResumePoint(runDir, Warn)
                ?? throw new ConfigException(problems.Count == 0
                    ? $"--resume: {runDir} holds no checkpoint yet (checkpoints/, reference/ or warm-start/)"
                    : $"--resume: {runDir} holds no intact checkpoint: {string.Join("; ", problems)}");
            ResumeChecks.RequireSamePolicy(policy, resumePoint.CheckpointDir);
            if (FindReference(runDir, Warn) is { } referenceDir) ResumeChecks.RequireSamePolicy(policy, referenceDir);
            run = run.ResumingFrom(resumePoint);
            status?.Invoke($"resuming from {resumePoint.CheckpointDir}: stage {resumePoint.Stage}, step {resumePoint.Step}, policy version {resumePoint.PolicyVersion}");
            foreach (var line in new ResumeCut(resumePoint.Stage, resumePoint.Step).Apply(runDir)) status?.Invoke(line);
        }

        var completion = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = ActorSystem.Create("pipeline", settings.Hocon);
        try
        {
            var inputs = new RunSupervisor.Inputs(run, task, completion)
            {
                WarmStartEval = EvalReportFile.Read(Path.Combine(runDir, WarmStartEvalFile)),
                Observer = observer,
                Sources = sources,
                Oni = oni,
            };
            var supervisor = system.ActorOf(RunSupervisor.Props(inputs), "run");
            supervisor.Tell(StartRun.Instance);
            await using var onInterrupt = interrupt.Register(() => supervisor.Tell(Interrupt.Instance));
            var result = await completion.Task.ConfigureAwait(false);
            await system.Terminate().WaitAsync(settings.Timeouts.Shutdown).ConfigureAwait(false);
            return result;
        }
        finally
        {
            if (!system.WhenTerminated.IsCompleted)
                await system.Terminate().WaitAsync(settings.Timeouts.Shutdown).ConfigureAwait(false);
        }
    }

    /// <summary>The folder of the frozen KL reference (the finished warm-start), or null; broken copies are reported to <paramref name="warn"/>.</summary>
    public static string? FindReference(string runDir, Action<string>? warn = null)
        => CheckpointStore.FindLatest(CheckpointStages.Root(runDir, CheckpointStages.WarmStartDone), warn)?.Dir;

    /// <summary>The frozen KL reference (the finished warm-start) of a run, or null when the warm-start has not finished.</summary>
    public static WeightSnapshot? LoadReference(string runDir, PolicyFactory policy, int seed)
    {
        if (CheckpointStore.FindLatest(CheckpointStages.Root(runDir, CheckpointStages.WarmStartDone)) is not { } rc) return null;
        using var model = policy.Create(seed);
        CheckpointStore.Load(rc.Dir, model, null);
        return WeightTransfer.Export(model, 0);
    }

    /// <summary>
    /// Newest intact GRPO checkpoint, else the finished warm-start, else a warm-start checkpoint. Each broken checkpoint
    /// passed over (and each unverified old one) is reported to <paramref name="warn"/> with its path and what is wrong.
    /// </summary>
    public static Learner.ResumePoint? FindResumePoint(string runDir, Action<string>? warn = null)
    {
        foreach (var stage in new[] { CheckpointStages.Grpo, CheckpointStages.WarmStartDone, CheckpointStages.WarmStart })
        {
            if (CheckpointStore.FindLatest(CheckpointStages.Root(runDir, stage), warn) is { } latest)
                return new Learner.ResumePoint(latest.Dir, latest.Meta.Stage, latest.Meta.Step, latest.Meta.PolicyVersion, latest.Meta.DataCursor);
        }
        return null;
    }

    /// <summary>The "pipeline" section as it was resolved, for the run folder; contains no secrets (keys come from the environment).</summary>
    public static string ConfigSnapshot(PipelineSettings settings)
    {
        // Flat `path = "value"` lines: Akka's HoconValue.ToString() does not render parseable HOCON.
        var sb = new System.Text.StringBuilder("# Resolved configuration of this run (all layers merged).\n");
        void Walk(Akka.Configuration.Hocon.HoconObject obj, string prefix)
        {
            foreach (var (name, value) in obj.Items.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var path = prefix + "." + name;
                if (value.IsObject()) Walk(value.GetObject(), path);
                else if (value.IsArray())
                    sb.Append(path).Append(" = ").Append(System.Text.Json.JsonSerializer.Serialize(value.GetArray().Select(v => v.GetString()))).Append('\n');
                else sb.Append(path).Append(" = ").Append(System.Text.Json.JsonSerializer.Serialize(value.GetString())).Append('\n');
            }
        }
        Walk(settings.Hocon.GetValue("pipeline").GetObject(), "pipeline");
        return sb.ToString();
    }

    public static string DefaultRunName(PipelineSettings settings, DateTimeOffset now)
        => string.IsNullOrWhiteSpace(settings.RunName)
            ? $"{settings.Task.Name}__grpo__{settings.Seed}__{now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}"
            : settings.RunName;
}
