using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using Pipeline.Oni.RewardModels;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Tasks.Sql;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline experiment oni-rm</c>: ONI's reward model measured offline on held-out critic labels. Samples completions of
/// the SQL task's RL prompts with a warm-started policy (as the generators do), labels each with the simulated critic's SQL
/// oracle, splits by prompt into train and held-out, trains the configured reward model on the trainer's schedule and prints
/// agreement next to the majority-class baseline, balanced accuracy and AUC.
/// </summary>
internal static class OniRewardModelCommand
{
    private static readonly Option<DirectoryInfo?> Run = new("--run") { Description = "A warm-started run folder (its config.conf, tokenizer and newest checkpoint sample the completions). Default: warm-start one first." };
    private static readonly Option<FileInfo?> Labels = new("--labels") { Description = "Read labelled completions (JSON lines) written by an earlier --dump instead of sampling." };
    private static readonly Option<FileInfo?> Dump = new("--dump") { Description = "Write the labelled completions here (JSON lines) for later --labels runs." };
    private static readonly Option<int> Prompts = new("--prompts") { Description = "RL prompts to sample.", DefaultValueFactory = _ => 400 };
    private static readonly Option<double> HeldOutShare = new("--heldout-share") { Description = "Share of the prompts (with all their completions) held out.", DefaultValueFactory = _ => 0.25 };
    private static readonly Option<int> LearnerSteps = new("--learner-steps") { Description = "Policy versions the training labels arrive over (the trainer's schedule).", DefaultValueFactory = _ => 40 };
    private static readonly Option<int> TrainLabels = new("--train-labels") { Description = "Training labels used, in arrival order (0: all).", DefaultValueFactory = _ => 0 };

    public static Command Create()
    {
        var command = new Command("oni-rm", "ONI's reward model on held-out critic labels: agreement vs the majority class, balanced accuracy, AUC.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Run, Labels, Dump, Prompts, HeldOutShare,
            LearnerSteps, TrainLabels,
        };
        command.SetAction((parse, ct) => ExecuteAsync(parse, ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(ParseResult parse, CancellationToken ct)
    {
        var heldOutShare = parse.GetValue(HeldOutShare);
        if (!(heldOutShare > 0 && heldOutShare < 1)) throw new ConfigException($"--heldout-share must be in (0, 1), got {heldOutShare}");
        var learnerSteps = parse.GetValue(LearnerSteps);
        if (learnerSteps < 1) throw new ConfigException($"--learner-steps must be at least 1, got {learnerSteps}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");

        List<LabelledCompletion> items;
        PipelineSettings settings;
        if (parse.GetValue(Labels) is { } file)
        {
            if (!file.Exists) throw new ConfigException($"--labels: {file.FullName} does not exist");
            settings = CommonOptions.Load(parse);
            items = File.ReadLines(file.FullName).Where(l => l.Length > 0)
                .Select((l, i) => JsonSerializer.Deserialize<LabelledCompletion>(l) ?? throw new ConfigException($"--labels: line {i + 1} is null")).ToList();
            Console.WriteLine($"read {items.Count} labelled completions from {file.FullName}");
        }
        else
        {
            var runDir = parse.GetValue(Run)?.FullName ?? await WarmStartAsync(parse, ct);
            var snapshot = Path.Combine(runDir, LocalRun.ConfigSnapshotFile);
            if (!File.Exists(snapshot)) throw new ConfigException($"--run: {runDir} has no {LocalRun.ConfigSnapshotFile}; is it a run folder?");
            settings = CommonOptions.Load(parse, snapshot);
            items = Collect(settings, runDir, parse.GetValue(Prompts), ct);
            if (parse.GetValue(Dump) is { } dump)
            {
                File.WriteAllLines(dump.FullName, items.Select(i => JsonSerializer.Serialize(i)));
                Console.WriteLine($"wrote {items.Count} labelled completions to {dump.FullName}");
            }
        }

        var options = RewardModelOptions.FromConfig(settings.Oni.RewardModel);
        var (train, heldOut) = PromptSplit.ByPrompt(items, heldOutShare, settings.Seed);
        var budget = parse.GetValue(TrainLabels);
        if (budget > 0) train = train.Take(budget).ToList();
        var threshold = options.LabelThreshold;
        Console.WriteLine($"labels: {items.Count} ({items.Count(i => i.Score >= threshold)} positive) from {items.Select(i => i.PromptId).Distinct().Count()} prompts; " +
                          $"train {train.Count} ({train.Count(i => i.Score >= threshold)} positive), held-out {heldOut.Count} ({heldOut.Count(i => i.Score >= threshold)} positive) from {heldOut.Select(i => i.PromptId).Distinct().Count()} prompts");

        var oni = settings.Oni;
        var schedule = new TrainerSchedule(oni.StepsPerLabelBatch, oni.WarmupLabels, oni.StepsPerLearnerStep, oni.BatchSize, (double)train.Count / learnerSteps);
        using var encoder = options.Features == FeatureKind.Embedding ? new Pipeline.Rewards.Similarity.OnnxSentenceEncoder(warn: Console.WriteLine) : null;
        var model = RewardModelFactory.Create(options, encoder);
        try
        {
            if (model is not IPointwiseRewardModel pointwise)
                throw new ConfigException($"oni.reward-model.variant = {model.Variant}: the harness measures pointwise models (classification, retrieval)");
            var clock = Stopwatch.StartNew();
            var steps = schedule.Replay(pointwise, [.. train.Select(i => new PointLabel(RewardModelInputs.Text(options.Input, i.Prompt, i.Completion), i.Score))], settings.Seed);
            var metrics = pointwise.Evaluate([.. heldOut.Select(i => new PointLabel(RewardModelInputs.Text(options.Input, i.Prompt, i.Completion), i.Score))]);
            Console.WriteLine($"reward model: variant={RewardModelOptions.Name(options.Variant)} input={RewardModelOptions.Name(options.Input)} features={RewardModelOptions.Name(options.Features)} " +
                              $"hidden={options.Hidden} lr={options.LearningRate.ToString(CultureInfo.InvariantCulture)} class-balance={(options.ClassBalance ? "on" : "off")}; " +
                              $"{steps} steps of {oni.BatchSize} on {train.Count} labels over {learnerSteps} learner steps in {clock.Elapsed.TotalSeconds:0.0} s");
            Console.WriteLine($"held-out labels n | agreement | majority baseline | balanced accuracy | AUC");
            Console.WriteLine($"{metrics.Count} ({metrics.Positives} positive) | {metrics.Agreement:P1} | {metrics.MajorityBaseline:P1} | {metrics.BalancedAccuracy:P1} | {metrics.Auc:0.000}");
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        return ExitCodes.Ok;
    }

    /// <summary>Warm-starts the default policy (grpo.steps = 0) under runs/, as <c>experiment oni</c> does.</summary>
    private static async Task<string> WarmStartAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = CommonOptions.Load(parse, ["grpo.steps=0"]);
        var dir = Path.GetFullPath(Path.Combine(settings.RunDir, "experiment-oni-rm__" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture), "warm-start"));
        var w = await LocalRun.RunAsync(settings, dir, false, null, s => Console.WriteLine("[warm-start] " + s), ct);
        if (w.Status != RunStatus.Completed) throw new InvalidOperationException($"warm-start: {w.Status} {w.Error}");
        return dir;
    }

    /// <summary>G completions per RL prompt from the run's newest checkpoint, each labelled by the SQL oracle (declined ones left out).</summary>
    private static List<LabelledCompletion> Collect(PipelineSettings settings, string runDir, int promptCount, CancellationToken ct)
    {
        TorchRuntime.Configure(Math.Max(settings.TorchThreads, Environment.ProcessorCount));
        var tokenizer = PolicyFactory.LoadTokenizer(settings.Policy, Path.Combine(runDir, LocalRun.TokenizerFolder));
        var checkpointDir = LocalRun.FindResumePoint(runDir)?.CheckpointDir ?? throw new ConfigException($"no checkpoint in {Path.Combine(runDir, "checkpoints")}");
        using var task = TaskCatalog.Create(settings, runDir) as SqlPipelineTask
            ?? throw new ConfigException($"task.name = {settings.Task.Name}: the harness labels with the SQL task's oracle (task.name = sql)");
        var policy = PolicyFactory.From(settings.Policy, tokenizer, settings.Device);
        using var model = policy.Create(settings.Seed);
        CheckpointStore.Load(checkpointDir, model, null);
        var sampler = new PolicySampler(model, settings.Seed);
        var oracle = SqlSimulatedOracle.ForTask(task, Path.Combine(runDir, "databases"), settings.Task.Sql.QueryTimeout);
        var g = settings.Generation;
        var prompts = task.RlPrompts.ToArray();
        new Random(settings.Seed).Shuffle(prompts);
        var items = new List<LabelledCompletion>();
        var seen = new HashSet<(string, string)>();
        int declined = 0, duplicates = 0;
        var clock = Stopwatch.StartNew();
        foreach (var prompt in prompts.Take(promptCount))
        {
            ct.ThrowIfCancellationRequested();
            var tokens = tokenizer.EncodePrompt(prompt);
            var room = policy.ContextLength - tokens.Length;
            if (room < 1) continue;
            var sampling = new SamplingSettings(g.Temperature, g.TopP, Math.Min(g.MaxTokens, room), [.. tokenizer.StopTokens]);
            foreach (var c in sampler.SampleGroup(tokens, g.GroupSize, sampling))
            {
                var completion = tokenizer.Decode(c.Tokens);
                // The labeller asks the critic once per text; so does the harness.
                if (!seen.Add((prompt.Id, completion))) { duplicates++; continue; }
                if (oracle.Score(prompt.Text, prompt.Reference, completion) is { } score) items.Add(new LabelledCompletion(prompt.Id, prompt.Text, completion, score));
                else declined++;
            }
        }
        Console.WriteLine($"sampled {Math.Min(promptCount, prompts.Length)} prompts x {g.GroupSize} at temperature {g.Temperature} from {checkpointDir} in {clock.Elapsed.TotalSeconds:0} s: " +
                          $"{items.Count} labelled, {duplicates} duplicates left out, {declined} declined by the oracle");
        return items;
    }
}
