using System.CommandLine;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Simulation.Calibration;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>`pipeline simulate --calibrate-from RUN` (costs fitted from a real run) and `--compare-to RUN` (the prediction's error).</summary>
internal static class SimulateCalibration
{
    /// <summary>The file in the simulation's folder holding the fitted costs (read it, edit it, pass it back as --costs).</summary>
    public const string CalibratedFile = "calibrated-costs.conf";

    public static readonly Option<DirectoryInfo?> CalibrateFrom = new("--calibrate-from")
    {
        Description = "Fit the cost models from a real run's folder (metrics.jsonl and config.conf of pipeline train or node); "
                      + "written to the simulation's folder as calibrated-costs.conf and printed. --costs is layered over them.",
    };

    public static readonly Option<DirectoryInfo?> CompareTo = new("--compare-to")
    {
        Description = "A real run's folder to compare the simulation with (rollouts/s and learner utilisation, the same definitions; "
                      + "default: the --calibrate-from run).",
    };

    /// <summary>The fitted costs (null without --calibrate-from), printed.</summary>
    public static CalibratedCosts? Fit(ParseResult parse)
    {
        if (parse.GetValue(CalibrateFrom) is not { } dir) return null;
        var fit = CostCalibration.FromRunFolder(dir.FullName);
        AnsiConsole.MarkupLine($"[bold]Costs fitted[/] from {Markup.Escape(dir.FullName)}:");
        Console.WriteLine(fit.ToHocon());
        return fit;
    }

    public static void Write(string runDir, CalibratedCosts? fit)
    {
        if (fit is not null) File.WriteAllText(Path.Combine(runDir, CalibratedFile), fit.ToHocon());
    }

    /// <summary>Refuses --compare-to before anything runs: with --sweep (each point is in sweep.md), or a folder without a run's steps.</summary>
    public static void CheckCompareTo(ParseResult parse, bool sweep)
    {
        if (parse.GetValue(CompareTo) is not { } real) return;
        if (sweep) throw new ConfigException("--compare-to compares one simulation with a real run; with --sweep, compare sweep.md's rows instead");
        RunFigures.Of(real.FullName);
    }

    /// <summary>Prints the real run's and the simulation's figures side by side, with the relative errors.</summary>
    public static void Compare(ParseResult parse, string simDir)
    {
        var real = parse.GetValue(CompareTo) ?? parse.GetValue(CalibrateFrom);
        if (real is null) return;
        var measured = RunFigures.Of(real.FullName);
        var simulated = RunFigures.Of(simDir);
        string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        string E(double p, double m) => RunFigures.Error(p, m).ToString("+0.0 %;-0.0 %", CultureInfo.InvariantCulture);
        var table = new Table().Title($"Simulation against {Markup.Escape(real.FullName)} (GRPO steps after the first)")
            .AddColumns("figure", "real run", "simulated", "error");
        table.AddRow("steps", measured.Steps.ToString(CultureInfo.InvariantCulture), simulated.Steps.ToString(CultureInfo.InvariantCulture), "");
        table.AddRow("rollouts/s", F(measured.RolloutsPerS), F(simulated.RolloutsPerS), E(simulated.RolloutsPerS, measured.RolloutsPerS));
        table.AddRow("learner utilisation", $"{measured.LearnerUtilisation:P1}", $"{simulated.LearnerUtilisation:P1}",
            E(simulated.LearnerUtilisation, measured.LearnerUtilisation));
        table.AddRow("staleness mean", F(measured.StalenessMean), F(simulated.StalenessMean), "");
        AnsiConsole.Write(table);
    }
}
