using System.CommandLine;
using System.Diagnostics;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Hosting;
using Pipeline.Simulation.Calibration;
using Pipeline.Simulation.Costs;
using Pipeline.Simulation.Sweep;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>`pipeline simulate --sweep key=v1,v2,...` (repeatable: a grid): one simulation per point, one table, one plot.</summary>
internal static class SimulateSweep
{
    public static readonly Option<string[]> Sweep = new("--sweep")
    {
        Description = "Simulate every value of a key: key=v1,v2,... Repeat for a grid. A pipeline key as --set takes it "
                      + "(generation.generators=1,4,16) or a cost key (costs.sources.critic.latency=1s,4s). Writes sweep.md and sweep.png.",
        AllowMultipleArgumentsPerToken = false,
    };

    public static readonly Option<string> SweepPlot = new("--sweep-plot")
    {
        Description = "The figure sweep.png draws against the first swept key: " + string.Join(" | ", SweepFigures.All.Keys) + ".",
        DefaultValueFactory = _ => "rollouts_per_s",
    };

    public static int Run(ParseResult parse, string[] options, CalibratedCosts? calibrated, TimeSpan duration)
    {
        var figure = parse.GetValue(SweepPlot)!;
        if (!SweepFigures.All.ContainsKey(figure))
            throw new ConfigException($"--sweep-plot '{figure}': expected {string.Join(" | ", SweepFigures.All.Keys)}");
        var axes = SweepGrid.Parse(options);
        var points = SweepGrid.Points(axes);
        var costsFile = SimulateCommand.CostsFileOf(parse);
        var calibratedText = calibrated?.ToHocon();

        // Every point's settings and costs are checked before the first simulation runs: a bad key loses nothing.
        var plans = new List<(SweepPoint Point, PipelineSettings Settings, CostModel Costs)>();
        foreach (var point in points)
        {
            try
            {
                plans.Add((point, SimulateCommand.LoadSettings(parse, point.Sets), CostLayers.Load(calibratedText, costsFile, point.CostOverrides)));
            }
            catch (ConfigException e)
            {
                throw new ConfigException($"--sweep {string.Join(", ", point.Values.Select(v => $"{v.Key}={v.Value}"))}: {e.Message}");
            }
        }

        var root = SimulateCommand.NewRunDir(SimulateCommand.LoadSettings(parse, []));
        SimulateCalibration.Write(root, calibrated);
        AnsiConsole.MarkupLine($"[bold]Sweep[/]: {points.Count} simulations of {duration.TotalSeconds:0} s of virtual time over " +
                               Markup.Escape(string.Join(" x ", axes.Select(a => $"{a.Key} ({a.Values.Count})"))));
        var results = new List<(SweepPoint, Pipeline.Simulation.SimulationSummary)>();
        var wall = Stopwatch.StartNew();
        foreach (var (point, settings, costs) in plans)
        {
            var dir = Path.Combine(root, "points", point.FolderName);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, LocalRun.ConfigSnapshotFile), LocalRun.ConfigSnapshot(settings));
            File.WriteAllText(Path.Combine(dir, Pipeline.Simulation.Simulation.CostsFile),
                CostModel.DefaultText() + "\n" + CostLayers.Text(calibratedText, costsFile, point.CostOverrides));
            var summary = Pipeline.Simulation.Simulation.Run(settings, costs, duration, dir);
            results.Add((point, summary));
            AnsiConsole.MarkupLine($"  {point.Index}/{points.Count} {Markup.Escape(point.FolderName)}: {summary.RolloutsPerS:0.###} rollouts/s" +
                                   (summary.Failure is null ? "" : $" [red](a real run would fail: {Markup.Escape(summary.Failure)})[/]"));
        }
        var markdown = SweepReport.Markdown(axes, results);
        File.WriteAllText(Path.Combine(root, SweepReport.TableFile), markdown);
        SweepReport.Plot(Path.Combine(root, SweepReport.PlotFile), axes, results, figure);
        Console.WriteLine();
        Console.WriteLine(markdown);
        AnsiConsole.MarkupLine($"{points.Count} simulations in {wall.Elapsed.TotalSeconds:0.0} s of wall time; table and plot in [bold]{Markup.Escape(root)}[/] " +
                               $"({SweepReport.TableFile}, {SweepReport.PlotFile}; each point's run folder under points/)");
        // A point where a real run would fail is a finding of the sweep, not a failure of the command.
        return ExitCodes.Ok;
    }
}
