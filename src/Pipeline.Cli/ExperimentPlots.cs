using ScottPlot;

namespace Pipeline.Cli;

/// <summary>Experiment figures as PNG (ScottPlot 5, as CurvePlots): one bar per row at the mean over seeds, a line from min to max.</summary>
internal static class ExperimentPlots
{
    /// <summary>Writes <paramref name="path"/>: for each series (e.g. execution accuracy, exact match) a bar per row label, in percent.</summary>
    public static string RangeBars(string path, string title, IReadOnlyList<string> labels, IReadOnlyList<(string Name, IReadOnlyList<SeedSpread> Values)> series)
    {
        var plot = new Plot();
        var width = 0.8 / Math.Max(1, series.Count);
        for (var s = 0; s < series.Count; s++)
        {
            var (name, values) = series[s];
            var colour = Colors.Category10[s % Colors.Category10.Length];
            var shown = Enumerable.Range(0, Math.Min(values.Count, labels.Count)).Where(i => values[i].N > 0)
                .Select(i => (X: i - 0.4 + width * (s + 0.5), V: values[i])).ToList();
            var plotted = plot.Add.Bars(shown.Select(b => new Bar { Position = b.X, Value = b.V.Mean * 100, FillColor = colour, Size = width * 0.9 }).ToList());
            plotted.LegendText = name;
            // The spread over seeds, min to max, drawn over the bars.
            foreach (var (x, v) in shown)
            {
                var range = plot.Add.Line(x, v.Min * 100, x, v.Max * 100);
                range.Color = Colors.Black;
                range.LineWidth = 2;
            }
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, labels.Count).Select(i => (double)i)], [.. labels]);
        // Row names are long: slanted labels with room below the axis (ScottPlot's rotated-ticks recipe).
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 170;
        plot.Axes.Right.MinimumSize = 120;
        var top = series.SelectMany(x => x.Values).Where(v => v.N > 0).Select(v => v.Max * 100).DefaultIfEmpty(0).Max();
        plot.Axes.SetLimits(-0.6, labels.Count - 0.4, 0, Math.Max(5, top * 1.15));
        plot.Legend.Alignment = Alignment.UpperLeft;
        plot.Title(title + "; bar: mean over seeds, line: min to max");
        plot.YLabel("held-out accuracy, %");
        plot.ShowLegend();
        plot.SavePng(path, 1000, 550);
        return path;
    }

    /// <summary>Writes <paramref name="path"/>: held-out accuracy against seconds since each run's GRPO stage began, one line per run.</summary>
    public static string AccuracyOverTime(string path, string title, IReadOnlyList<(string Name, IReadOnlyList<EvalPoint> Evals)> runs, double? target)
    {
        var plot = new Plot();
        foreach (var (name, evals) in runs)
        {
            if (evals.Count == 0) continue;
            var line = plot.Add.Scatter(evals.Select(e => e.Seconds).ToArray(), evals.Select(e => e.Accuracy * 100).ToArray());
            line.LegendText = name;
        }
        if (target is { } t && double.IsFinite(t))
        {
            var h = plot.Add.HorizontalLine(t * 100);
            h.LegendText = "target";
            h.LinePattern = LinePattern.Dashed;
        }
        plot.Title(title);
        plot.XLabel("seconds since GRPO began");
        plot.YLabel("held-out accuracy, %");
        plot.ShowLegend();
        plot.SavePng(path, 1000, 550);
        return path;
    }
}
