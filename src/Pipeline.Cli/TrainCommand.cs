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

    public static Command Create()
    {
        var command = new Command("train", """
            Warm-start the policy on demonstrations, then train it with GRPO, every stage an actor in one process.
            Writes runs/<name>/: config.conf, metrics.jsonl, tb/ (TensorBoard), plots/*.png, checkpoints/, eval_*.json.
            Ctrl-C writes a checkpoint and exits; --resume continues from it.
            """)
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Resume,
        };
        command.SetAction((parse, ct) => RunAsync(parse));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse)
    {
        string runDir;
        var resume = parse.GetResult(Resume) is not null;
        var settings = CommonOptions.Load(parse);
        if (resume)
        {
            runDir = parse.GetValue(Resume) is { Length: > 0 } given ? Path.GetFullPath(given) : NewestRun(settings.RunDir);
            var snapshot = Path.Combine(runDir, LocalRun.ConfigSnapshotFile);
            if (!File.Exists(snapshot)) throw new ConfigException($"--resume: {runDir} has no {LocalRun.ConfigSnapshotFile}; is it a run folder?");
            settings = CommonOptions.Load(parse, snapshot);
        }
        else
        {
            runDir = Path.GetFullPath(Path.Combine(settings.RunDir, LocalRun.DefaultRunName(settings, DateTimeOffset.Now)));
        }

        using var interrupt = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // keep the process alive until the checkpoint is written
            if (!interrupt.IsCancellationRequested) Console.Error.WriteLine("\nInterrupted: writing a checkpoint before exit (press Ctrl-C again to abort)...");
            else Environment.Exit(ExitCodes.Interrupted);
            interrupt.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var view = ProgressView.Create(settings);
            var result = await view.RunAsync(observer => LocalRun.RunAsync(settings, runDir, resume, observer, view.Status, interrupt.Token));
            return Report(result);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

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
        switch (result.Status)
        {
            case RunStatus.Interrupted:
                AnsiConsole.MarkupLine($"[yellow]Interrupted[/] at step {result.Step}, policy version {result.PolicyVersion}. Continue with: [bold]pipeline train --resume {Markup.Escape(result.RunDir)}[/]");
                return ExitCodes.Interrupted;
            case RunStatus.Failed:
                AnsiConsole.MarkupLine($"[red]Run failed:[/] {Markup.Escape(result.Error ?? "unknown error")}");
                return ExitCodes.Failed;
        }

        ResultTable.Print(result.WarmStart, result.Final);
        if (result.WarmStart is { } w && result.Final is { } f)
        {
            var summary = new Dictionary<string, double>
            {
                ["final/warm_start_accuracy"] = w.Overall.Accuracy,
                ["final/warm_start_exact_match"] = w.Overall.ExactMatch,
                ["final/grpo_accuracy"] = f.Overall.Accuracy,
                ["final/grpo_exact_match"] = f.Overall.ExactMatch,
            };
            File.AppendAllText(Path.Combine(result.RunDir, "metrics.jsonl"), MetricsRecorder.ToJson(new MetricsReport(result.Step, summary)) + "\n");
        }
        AnsiConsole.MarkupLine($"Run folder: [bold]{Markup.Escape(result.RunDir)}[/]");
        return ExitCodes.Ok;
    }
}
