using Pipeline.Core.Protocol;
using ScottPlot;

namespace Pipeline.Runtime.Metrics;

/// <summary>The main curves of a run as PNG files in plots/ (ScottPlot 5).</summary>
public static class CurvePlots
{
    private static readonly (string File, string Title, string[] Series)[] Charts =
    [
        ("reward.png", "GRPO reward (composed, and each source's raw mean)", ["reward/mean", "reward/*/mean"]),
        ("reward_invalid.png", "Invalid (masked) fraction, per source", ["reward/invalid_frac", "reward/*/invalid_frac"]),
        ("reward_latency.png", "Reward latency per source (ms)", ["reward/*/latency_ms"]),
        ("eval.png", "Held-out accuracy", ["eval/accuracy", "eval/exact_match"]),
        ("sft_loss.png", "Warm-start loss", ["sft/loss", "sft/val_loss"]),
        ("throughput.png", "Throughput (rollouts/s)", ["throughput/rollouts_per_s"]),
        ("kl.png", "KL to reference", ["actor/kl", "mismatch_kl"]),
    ];

    /// <summary>A series name with one '*' stands for every metric that matches it (one curve per reward source).</summary>
    public static IEnumerable<string> Expand(string pattern, IReadOnlyList<MetricsReport> reports)
    {
        var star = pattern.IndexOf('*');
        if (star < 0) return [pattern];
        var (prefix, suffix) = (pattern[..star], pattern[(star + 1)..]);
        return reports.SelectMany(r => r.Data.Keys)
            .Where(k => k.Length > prefix.Length + suffix.Length && k.StartsWith(prefix, StringComparison.Ordinal)
                        && k.EndsWith(suffix, StringComparison.Ordinal) && !k[prefix.Length..^suffix.Length].Contains('/'))
            .Distinct().Order(StringComparer.Ordinal);
    }

    public static IReadOnlyList<string> Write(string runDir, IReadOnlyList<MetricsReport> reports)
    {
        var dir = Directory.CreateDirectory(Path.Combine(runDir, "plots")).FullName;
        var written = new List<string>();
        foreach (var (file, title, series) in Charts)
        {
            var plot = new Plot();
            var any = false;
            foreach (var name in series.SelectMany(p => Expand(p, reports)))
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
