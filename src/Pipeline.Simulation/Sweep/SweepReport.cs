using System.Globalization;
using System.Text;
using ScottPlot;

namespace Pipeline.Simulation.Sweep;

/// <summary>The summary figures a sweep can plot, by the names `--sweep-plot` takes.</summary>
public static class SweepFigures
{
    public static readonly IReadOnlyDictionary<string, (string Label, Func<SimulationSummary, double> Of)> All =
        new Dictionary<string, (string, Func<SimulationSummary, double>)>(StringComparer.Ordinal)
        {
            ["rollouts_per_s"] = ("rollouts/s (trained)", s => s.RolloutsPerS),
            ["tokens_per_s"] = ("tokens/s (trained)", s => s.TokensPerS),
            ["learner_utilisation"] = ("learner utilisation", s => s.LearnerUtilisation),
            ["generator_utilisation"] = ("generator utilisation", s => s.GeneratorUtilisation),
            ["staleness_mean"] = ("staleness (mean versions behind)", s => s.StalenessMean),
        };
}

/// <summary>A sweep's one table (markdown, one row per point) and one plot (a figure against the first swept key, a line per combination of the others).</summary>
public static class SweepReport
{
    public const string TableFile = "sweep.md";
    public const string PlotFile = "sweep.png";

    public static string Markdown(IReadOnlyList<SweepAxis> axes, IReadOnlyList<(SweepPoint Point, SimulationSummary Summary)> results)
    {
        string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        var sources = results.SelectMany(r => r.Summary.Coverage.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var header = axes.Select(a => a.Key)
            .Concat(["rollouts/s", "tokens/s", "learner util.", "generator util.", "staleness mean", "steps"])
            .Concat(sources.Select(s => $"{s} coverage")).Concat(["masked rollouts", "a real run would fail"]).ToList();
        var b = new StringBuilder();
        b.AppendLine("| " + string.Join(" | ", header) + " |");
        b.AppendLine("|" + string.Concat(header.Select(_ => " --- |")));
        foreach (var (point, s) in results)
        {
            var cells = point.Values.Select(v => v.Value)
                .Concat([F(s.RolloutsPerS), F(s.TokensPerS), $"{s.LearnerUtilisation:P1}", $"{s.GeneratorUtilisation:P1}", F(s.StalenessMean), s.Steps.ToString(CultureInfo.InvariantCulture)])
                .Concat(sources.Select(n => s.Coverage.TryGetValue(n, out var c) ? $"{c:P1}" : "-"))
                .Concat([s.MaskedRollouts.ToString(CultureInfo.InvariantCulture), s.Failure is null ? "no" : s.Failure.Replace("|", "/", StringComparison.Ordinal)]);
            b.AppendLine("| " + string.Join(" | ", cells) + " |");
        }
        return b.ToString();
    }

    /// <summary>Draws <paramref name="figure"/> against the first axis's values (in the order given, as categories).</summary>
    public static void Plot(string path, IReadOnlyList<SweepAxis> axes, IReadOnlyList<(SweepPoint Point, SimulationSummary Summary)> results, string figure)
    {
        var (label, of) = SweepFigures.All[figure];
        var x = axes[0];
        var plot = new Plot();
        var lines = results.GroupBy(r => string.Join(", ", r.Point.Values.Skip(1).Select(v => $"{v.Key}={v.Value}")));
        foreach (var line in lines)
        {
            var xs = line.Select(r => (double)x.Values.ToList().IndexOf(r.Point.Values[0].Value)).ToArray();
            var ys = line.Select(r => of(r.Summary)).ToArray();
            var scatter = plot.Add.Scatter(xs, ys);
            if (line.Key.Length > 0) scatter.LegendText = line.Key;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, x.Values.Count).Select(i => (double)i).ToArray(), [.. x.Values]);
        plot.Axes.Bottom.Label.Text = x.Key;
        plot.Axes.Left.Label.Text = label;
        plot.Title($"Simulated {label} against {x.Key}");
        if (axes.Count > 1) plot.ShowLegend();
        plot.SavePng(path, 900, 500);
    }
}
