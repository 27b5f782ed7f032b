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
            var bars = new List<Bar>();
            for (var i = 0; i < values.Count && i < labels.Count; i++)
            {
                var v = values[i];
                if (v.N == 0) continue;
                var x = i - 0.4 + width * (s + 0.5);
                bars.Add(new Bar { Position = x, Value = v.Mean * 100, FillColor = colour, Size = width * 0.9 });
                // The spread over seeds: min to max.
                var range = plot.Add.Line(x, v.Min * 100, x, v.Max * 100);
                range.Color = Colors.Black;
                range.LineWidth = 2;
            }
            var plotted = plot.Add.Bars(bars);
            plotted.LegendText = name;
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, labels.Count).Select(i => (double)i)], [.. labels]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = -20;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.UpperLeft;
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel("held-out accuracy, % (bar: mean over seeds; line: min-max)");
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
