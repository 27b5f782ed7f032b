using Pipeline.Core.Protocol;
using ScottPlot;

namespace Pipeline.Runtime.Metrics;

/// <summary>
/// The main curves of a run as PNG files in plots/ (ScottPlot 5). A per-step series of at least <see cref="SmoothFrom"/>
/// points is drawn as faint raw points under its exponential moving average (TensorBoard's smoothing, weight
/// <see cref="SmoothingWeight"/>, debiased), since one step's reward is too noisy to read a trend from.
/// </summary>
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

    public const double SmoothingWeight = 0.9;
    public const int SmoothFrom = 10;

    /// <summary>
    /// Debiased exponential moving average: m_t = w m_(t-1) + (1 - w) y_t from m_0 = 0, divided by 1 - w^t (Adam's
    /// correction), so the first points are not pulled towards 0.
    /// </summary>
    public static double[] Ema(IReadOnlyList<double> ys, double weight = SmoothingWeight)
    {
        ArgumentNullException.ThrowIfNull(ys);
        if (weight is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(weight), weight, "must be in [0, 1)");
        var result = new double[ys.Count];
        var m = 0.0;
        var correction = 1.0;
        for (var i = 0; i < ys.Count; i++)
        {
            m = weight * m + (1 - weight) * ys[i];
            correction *= weight;
            result[i] = m / (1 - correction);
        }
        return result;
    }

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
                var xs = points.Select(p => p.X).ToArray();
                var ys = points.Select(p => p.Y).ToArray();
                var smooth = points.Count >= SmoothFrom && !title.StartsWith("Warm", StringComparison.Ordinal) && !file.StartsWith("eval", StringComparison.Ordinal);
                var scatter = plot.Add.Scatter(xs, ys);
                if (smooth)
                {
                    // Raw points faint and unlabelled; the smoothed line carries the series' colour and name.
                    scatter.LineWidth = 0;
                    scatter.MarkerSize = 3;
                    scatter.Color = scatter.Color.WithAlpha(0.35);
                    var line = plot.Add.Scatter(xs, Ema(ys));
                    line.Color = scatter.Color.WithAlpha(1.0);
                    line.MarkerSize = 0;
                    line.LineWidth = 2;
                    line.LegendText = $"{name} (EMA {SmoothingWeight})";
                }
                else
                {
                    scatter.LegendText = name;
                }
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
