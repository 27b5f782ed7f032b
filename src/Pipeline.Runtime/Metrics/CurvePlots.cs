using Pipeline.Core.Protocol;
using ScottPlot;

namespace Pipeline.Runtime.Metrics;

/// <summary>The main curves of a run as PNG files in plots/ (ScottPlot 5).</summary>
public static class CurvePlots
{
    private static readonly (string File, string Title, string[] Series)[] Charts =
    [
        ("reward.png", "GRPO reward", ["reward/mean", "reward/execution/mean", "reward/rubric/mean"]),
        ("eval.png", "Held-out accuracy", ["eval/accuracy", "eval/exact_match"]),
        ("sft_loss.png", "Warm-start loss", ["sft/loss", "sft/val_loss"]),
        ("throughput.png", "Throughput (rollouts/s)", ["throughput/rollouts_per_s"]),
        ("kl.png", "KL to reference", ["actor/kl", "mismatch_kl"]),
    ];

    public static IReadOnlyList<string> Write(string runDir, IReadOnlyList<MetricsReport> reports)
    {
        var dir = Directory.CreateDirectory(Path.Combine(runDir, "plots")).FullName;
        var written = new List<string>();
        foreach (var (file, title, series) in Charts)
        {
            var plot = new Plot();
            var any = false;
            foreach (var name in series)
            {
                var points = reports.Where(r => r.Data.TryGetValue(name, out var v) && double.IsFinite(v))
                    .Select(r => (X: (double)r.Step, Y: r.Data[name])).ToList();
                if (points.Count == 0) continue;
                var scatter = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
                scatter.LegendText = name;
                any = true;
            }
            if (!any) continue;
            plot.Title(title);
            plot.XLabel(title.StartsWith("Warm", StringComparison.Ordinal) ? "epoch" : "step");
            plot.ShowLegend();
            var path = Path.Combine(dir, file);
            plot.SavePng(path, 800, 450);
            written.Add(path);
        }
        return written;
    }
}
