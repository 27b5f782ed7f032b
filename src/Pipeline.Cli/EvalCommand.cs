using System.CommandLine;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Tokenization;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Spectre.Console;

namespace Pipeline.Cli;

internal static class EvalCommand
{
    private static readonly Option<DirectoryInfo> Run = new("--run")
    {
        Description = "The run folder (runs/<name>) whose newest checkpoint is scored.",
        Required = true,
    };

    private static readonly Option<DirectoryInfo?> Checkpoint = new("--checkpoint")
    {
        Description = "A specific checkpoint folder (runs/<name>/checkpoints/step-...) instead of the newest.",
    };

    private static readonly Option<int> Show = new("--show")
    {
        Description = "Print the first N questions with the gold answer and the prediction.",
        DefaultValueFactory = _ => 0,
    };

    public static Command Create()
    {
        var command = new Command("eval", "Greedy-decode the held-out split with a run's checkpoint and print execution accuracy and exact match per language.")
        {
            Run, Checkpoint, Show, CommonOptions.Set, CommonOptions.HoconDir,
        };
        command.SetAction((parse, ct) => Task.FromResult(Execute(parse, ct)));
        return command;
    }

    private static int Execute(ParseResult parse, CancellationToken ct)
    {
        {
            var runDir = parse.GetValue(Run)!.FullName;
            var snapshot = Path.Combine(runDir, LocalRun.ConfigSnapshotFile);
            if (!File.Exists(snapshot)) throw new ConfigException($"--run: {runDir} has no {LocalRun.ConfigSnapshotFile}; is it a run folder?");
            var settings = CommonOptions.Load(parse, snapshot);
            TorchRuntime.Configure(Math.Max(settings.TorchThreads, Environment.ProcessorCount));

            var tokenizer = PolicyFactory.LoadTokenizer(settings.Policy, Path.Combine(runDir, LocalRun.TokenizerFolder));
            var checkpointDir = parse.GetValue(Checkpoint)?.FullName
                ?? LocalRun.FindResumePoint(runDir)?.CheckpointDir
                ?? throw new ConfigException($"no checkpoint in {Path.Combine(runDir, "checkpoints")}");
            using var task = TaskCatalog.Create(settings, runDir);
            var policy = PolicyFactory.From(settings.Policy, tokenizer, settings.Device);
            ResumeChecks.RequireSamePolicy(policy, checkpointDir); // an adapter-only checkpoint needs its exact base
            using var model = policy.Create(settings.Seed);
            var meta = CheckpointStore.Load(checkpointDir, model, null);
            var sampler = new PolicySampler(model, settings.Seed);
            var show = parse.GetValue(Show);
            var shown = 0;
            AnsiConsole.MarkupLine($"Scoring [bold]{Markup.Escape(checkpointDir)}[/] (stage {meta.Stage}, step {meta.Step}, policy version {meta.PolicyVersion}) on {task.HeldOut.Count} held-out questions");
            var report = Evaluator.Evaluate(model, sampler, tokenizer, task,
                new Evaluator.Settings(Environment.ProcessorCount, policy, settings.Generation.MaxTokens, settings.Eval.Limit, settings.Seed),
                (example, prediction) =>
                {
                    if (shown++ >= show) return;
                    Console.WriteLine($"Q:    {example.Prompt.Text}\ngold: {example.Completion}\npred: {prediction}\n");
                }, ct);
            ResultTable.Print(null, report);
            return ExitCodes.Ok;
        }
    }
}
