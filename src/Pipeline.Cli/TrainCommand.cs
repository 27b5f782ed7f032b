using System.CommandLine;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Spectre.Console;

namespace Pipeline.Cli;

internal static class TrainCommand
{
    private static readonly Option<string?> Resume = new("--resume")
    {
        Description = "Continue a run from its newest checkpoint: give its folder, or nothing for the newest run in run-dir.",
        Arity = ArgumentArity.ZeroOrOne,
    };

    private static readonly Option<DirectoryInfo?> Model = new("--model")
    {
        Description = "Start from a Hugging Face model folder (config.json, *.safetensors, tokenizer.json): sets policy.source=hf and policy.path.",
    };

    public static Command Create()
    {
        var command = new Command("train", """
            Warm-start the policy on demonstrations, then train it with GRPO, every stage an actor in one process.
            Writes runs/<name>/: config.conf, metrics.jsonl, tb/ (TensorBoard), plots/*.png, checkpoints/, eval_*.json.
            Ctrl-C writes a checkpoint and exits; --resume continues from it.
            """)
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Resume, Model,
        };
        command.SetAction((parse, ct) => RunAsync(parse, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken interrupt)
    {
        string runDir;
        var resume = parse.GetResult(Resume) is not null;
        var model = parse.GetValue(Model);
        if (model is not null && resume) throw new ConfigException("--model starts a new run; a resumed run keeps the policy it was started with (drop --model)");
        var settings = model is null ? CommonOptions.Load(parse) : CommonOptions.Load(parse, ModelOverrides(model));
        if (resume)
        {
            runDir = parse.GetValue(Resume) is { Length: > 0 } given ? Path.GetFullPath(given) : NewestRun(settings.RunDir);
            var snapshot = Path.Combine(runDir, LocalRun.ConfigSnapshotFile);
            if (!File.Exists(snapshot)) throw new ConfigException($"--resume: {runDir} has no {LocalRun.ConfigSnapshotFile}; is it a run folder?");
            settings = CommonOptions.Load(parse, snapshot);
        }
        else
        {
            // Claimed exclusively: two runs started in the same second with the same seed get two folders.
            runDir = RunFolders.CreateExclusive(settings.RunDir, LocalRun.DefaultRunName(settings, DateTimeOffset.Now));
        }

        var view = ProgressView.Create(settings);
        // The first SIGINT/SIGTERM (ShutdownSignals) cancels the token: the live view says so at once.
        await using var onInterrupt = interrupt.Register(() => view.Status("interrupted: finishing the current step, then writing a checkpoint"));
        var result = await view.RunAsync(observer => LocalRun.RunAsync(settings, runDir, resume, observer, view.Status, interrupt));
        return Report(result);
    }

    /// <summary>The --set overrides --model stands for (the path quoted, so HOCON reads it whole).</summary>
    internal static string[] ModelOverrides(DirectoryInfo model)
        => ["policy.source=hf", "policy.path=" + System.Text.Json.JsonSerializer.Serialize(model.FullName)];

    private static string NewestRun(string runRoot)
    {
        var dir = new DirectoryInfo(runRoot);
        var newest = dir.Exists
            ? dir.GetDirectories().Where(d => File.Exists(Path.Combine(d.FullName, LocalRun.ConfigSnapshotFile)))
                .OrderByDescending(d => d.LastWriteTimeUtc).FirstOrDefault()
            : null;
        return newest?.FullName ?? throw new ConfigException($"--resume: no run folder under {Path.GetFullPath(runRoot)}");
    }

    private static int Report(RunResult result)
    {
        // Every ending states how much was masked: a run that trained on nothing must not look like one that trained.
        ResultTable.PrintMasking(result.Masking);
        WriteSummaryRow(result);
        switch (result.Status)
        {
            case RunStatus.Interrupted:
                AnsiConsole.MarkupLine($"[yellow]Interrupted[/] at step {result.Step}, policy version {result.PolicyVersion}. Continue with: [bold]pipeline train --resume {Markup.Escape(result.RunDir)}[/]");
                return ExitCodes.Interrupted;
            case RunStatus.Failed:
                AnsiConsole.MarkupLine($"[red]Run failed:[/] {Markup.Escape(result.Error ?? "unknown error")}");
                AnsiConsole.MarkupLine($"Run folder: [bold]{Markup.Escape(result.RunDir)}[/]");
                return ExitCodes.Failed;
        }

        ResultTable.Print(result.WarmStart, result.Final);
        AnsiConsole.MarkupLine($"Run folder: [bold]{Markup.Escape(result.RunDir)}[/]");
        return ExitCodes.Ok;
    }

    /// <summary>The last metrics row: held-out scores (when both evaluations ran) and the run's masked share.</summary>
    private static void WriteSummaryRow(RunResult result)
    {
        var summary = new Dictionary<string, double>();
        if (result.WarmStart is { } w && result.Final is { } f)
        {
            summary["final/warm_start_accuracy"] = w.Overall.Accuracy;
            summary["final/warm_start_exact_match"] = w.Overall.ExactMatch;
            summary["final/grpo_accuracy"] = f.Overall.Accuracy;
            summary["final/grpo_exact_match"] = f.Overall.ExactMatch;
        }
        if (result.Masking is { } m)
        {
            summary["final/masked_frac"] = m.MaskedFrac;
            summary["final/empty_steps"] = m.EmptySteps;
            foreach (var (source, frac) in m.InvalidFrac) summary[$"final/invalid_frac/{source}"] = frac;
        }
        var metrics = Path.Combine(result.RunDir, "metrics.jsonl");
        if (summary.Count > 0 && Directory.Exists(result.RunDir))
            File.AppendAllText(metrics, MetricsRecorder.ToJson(new MetricsReport(Math.Max(result.Step, result.Masking?.Steps ?? 0), summary)) + "\n");
    }
}
