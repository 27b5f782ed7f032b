using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Hosting;
using Pipeline.Simulation;
using Pipeline.Simulation.Costs;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>`pipeline simulate`: the real actors on virtual time with declared cost models (docs/simulation.md).</summary>
internal static class SimulateCommand
{
    private static readonly Option<FileInfo?> Costs = new("--costs")
    {
        Description = "HOCON cost models layered over the built-in ones (every key is listed in src/Pipeline.Simulation/costs.conf).",
    };

    private static readonly Option<string> Duration = new("--duration")
    {
        Description = "Virtual time to simulate, e.g. 90s, 30m, 1h.",
        DefaultValueFactory = _ => "10m",
    };

    private static readonly Option<long?> Seed = new("--seed")
    {
        Description = "The run's seed (pipeline.seed): the same seed, settings and costs give the same output, bit for bit.",
    };

    public static Command Create()
    {
        var command = new Command("simulate", """
            Simulate a run: the real prompt source, replay buffer, annotation stages and generators, wired by the same builders
            as train, on virtual time; sampling, reward latency, training and weight sync take the time the cost models declare
            (the learner is a SimulatedLearner speaking the real learner's protocol). Writes runs/<name>/: config.conf,
            costs.conf, metrics.jsonl, plots/*.png, summary.json, accounting.json. --calibrate-from fits the costs from a real
            run; --sweep runs a grid and writes sweep.md and sweep.png (docs/simulation.md).
            """)
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Costs, Duration, Seed,
            SimulateCalibration.CalibrateFrom, SimulateCalibration.CompareTo, SimulateSweep.Sweep, SimulateSweep.SweepPlot,
        };
        command.SetAction((parse, _) => Task.FromResult(Run(parse)));
        return command;
    }

    /// <summary>The settings every simulation reads: the command line's, TensorBoard off, and <paramref name="sets"/> (a sweep point's) last.</summary>
    internal static PipelineSettings LoadSettings(ParseResult parse, IEnumerable<string> sets)
    {
        // TensorBoard events go through libtorch: a simulation has no torch at all.
        var extra = new List<string> { "metrics.tensorboard=off" };
        if (parse.GetValue(Seed) is { } seed) extra.Add("seed=" + seed.ToString(CultureInfo.InvariantCulture));
        return CommonOptions.Load(parse, extra.Concat(sets));
    }

    internal static string? CostsFileOf(ParseResult parse) => parse.GetValue(Costs)?.FullName;

    internal static TimeSpan DurationOf(ParseResult parse) => ParseDuration(parse.GetValue(Duration)!);

    internal static string NewRunDir(PipelineSettings settings)
    {
        var name = string.IsNullOrWhiteSpace(settings.RunName)
            ? $"simulate__{settings.Seed}__{DateTimeOffset.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}"
            : settings.RunName;
        return RunFolders.CreateExclusive(settings.RunDir, name);
    }

    private static int Run(ParseResult parse)
    {
        var duration = DurationOf(parse);
        var sweep = parse.GetValue(SimulateSweep.Sweep);
        SimulateCalibration.CheckCompareTo(parse, sweep is { Length: > 0 });
        var calibrated = SimulateCalibration.Fit(parse);
        if (sweep is { Length: > 0 }) return SimulateSweep.Run(parse, sweep, calibrated, duration);
        var settings = LoadSettings(parse, []);
        var costsFile = CostsFileOf(parse);
        var costs = CostLayers.Load(calibrated?.ToHocon(), costsFile, null);
        var runDir = NewRunDir(settings);
        File.WriteAllText(Path.Combine(runDir, LocalRun.ConfigSnapshotFile), LocalRun.ConfigSnapshot(settings));
        SimulateCalibration.Write(runDir, calibrated);
        File.WriteAllText(Path.Combine(runDir, Simulation.Simulation.CostsFile),
            CostModel.DefaultText() + "\n" + CostLayers.Text(calibrated?.ToHocon(), costsFile, null));

        AnsiConsole.MarkupLine($"[bold]Simulated[/] run: {settings.Generation.Generators} generators, {costs.Annotators} annotation stages, " +
                               $"{duration.TotalSeconds:0} s of virtual time, seed {settings.Seed}");
        var wall = Stopwatch.StartNew();
        var summary = Simulation.Simulation.Run(settings, costs, duration, runDir);
        wall.Stop();
        Print(summary);
        AnsiConsole.MarkupLine($"Simulated {summary.DurationS:0} s in {wall.Elapsed.TotalSeconds:0.0} s of wall time " +
                               $"({summary.DurationS / Math.Max(wall.Elapsed.TotalSeconds, 1e-9):0} x real time)");
        AnsiConsole.MarkupLine($"Run folder: [bold]{Markup.Escape(runDir)}[/]");
        SimulateCalibration.Compare(parse, runDir);
        if (summary.Failure is not null)
        {
            AnsiConsole.MarkupLine($"[red]A real run would have failed here:[/] {Markup.Escape(summary.Failure)}");
            return ExitCodes.Failed;
        }
        return ExitCodes.Ok;
    }

    /// <summary>A duration like 90s, 30m, 1h, 500ms or 2d; anything else is a usage error naming the option.</summary>
    internal static TimeSpan ParseDuration(string text)
    {
        var t = text.Trim();
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400) };
        foreach (var (suffix, seconds) in units)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            if (double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && v > 0)
                return TimeSpan.FromSeconds(v * seconds);
            break;
        }
        throw new ConfigException($"--duration '{text}': expected a positive duration such as 90s, 30m or 1h");
    }

    internal static void Print(SimulationSummary s)
    {
        string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        var table = new Table().Title("Simulation summary (virtual time; [yellow]simulated[/], not measured)").AddColumns("measure", "value");
        table.AddRow("virtual time", $"{F(s.DurationS)} s");
        table.AddRow("learner steps / policy version", $"{s.Steps} / {s.PolicyVersion}");
        table.AddRow("groups generated / trained", $"{s.GroupsGenerated} / {s.GroupsTrained}");
        table.AddRow("rollouts/s (trained)", F(s.RolloutsPerS));
        table.AddRow("tokens/s (trained)", F(s.TokensPerS));
        table.AddRow("learner utilisation", $"{s.LearnerUtilisation:P1}");
        table.AddRow("generator utilisation", $"{s.GeneratorUtilisation:P1}");
        table.AddRow("staleness (groups by versions behind)", string.Join(", ", s.Staleness.Select(kv => $"{kv.Key}: {kv.Value}")) + $"; mean {F(s.StalenessMean)}");
        foreach (var (name, d) in s.QueueDepths) table.AddRow($"queue {Markup.Escape(name)} p50 / p99", $"{F(d.P50)} / {F(d.P99)}");
        foreach (var (name, c) in s.Coverage) table.AddRow($"coverage {Markup.Escape(name)} (valid share of trained rollouts)", $"{c:P1}");
        foreach (var (name, n) in s.InvalidSignals) table.AddRow($"invalid signals {Markup.Escape(name)}", n.ToString(CultureInfo.InvariantCulture));
        table.AddRow("masked rollouts", s.MaskedRollouts.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, n) in s.Drops) table.AddRow($"counted {Markup.Escape(name)}", n.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
    }

}
