using Pipeline.Runtime.Metrics;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;

namespace Pipeline.Simulation.Calibration;

/// <summary>
/// The figures a real run and a simulation are compared on, computed the same way from either's metrics.jsonl, over the
/// steady GRPO steps (<see cref="Steady"/>: not the first, whose time includes start-up, nor one right after an evaluation):
/// rollouts/s = Σ rollouts/count / Σ timing_s/step; learner utilisation = the learner's busy time / Σ timing_s/step, where
/// busy = timing_s/update + timing_s/sync in a real run (the local learner publishes weights inside its step) and
/// timing_s/update in a simulation (a simulated step's time; weight delivery runs beside it, and a calibrated cost model
/// folds the real publish time into the step).
/// </summary>
public sealed record RunFigures(int Steps, double Seconds, double Rollouts, double RolloutsPerS, double TokensPerS, double LearnerUtilisation,
    double StalenessMean)
{
    public static RunFigures Of(string runDir) => Of(ReadRows(runDir));

    /// <summary>Every row of <paramref name="runDir"/>'s metrics.jsonl, in the order written.</summary>
    public static List<MetricsReport> ReadRows(string runDir)
    {
        var path = Path.Combine(runDir, "metrics.jsonl");
        if (!File.Exists(path)) throw new ConfigException($"{runDir}: no metrics.jsonl (is it a run folder of pipeline train, node or simulate?)");
        return MetricsRecorder.ReadAll(path);
    }

    /// <summary>
    /// The GRPO steps (rows with policy/version) that show the steady pipeline: all but the first (start-up) and any step
    /// written right after an evaluation row (its time includes the evaluation, e.g. the one before GRPO).
    /// </summary>
    public static List<MetricsReport> Steady(IReadOnlyList<MetricsReport> rows)
    {
        var steps = new List<MetricsReport>();
        var first = true;
        var afterEval = false;
        foreach (var row in rows)
        {
            if (row.Data.Keys.Any(k => k.StartsWith("eval/", StringComparison.Ordinal))) { afterEval = true; continue; }
            if (!row.Data.ContainsKey("policy/version")) continue;
            if (!first && !afterEval) steps.Add(row);
            first = false;
            afterEval = false;
        }
        return steps;
    }

    public static RunFigures Of(IReadOnlyList<MetricsReport> rows)
    {
        var used = Steady(rows);
        if (used.Count == 0) throw new ConfigException("no GRPO step after start-up in metrics.jsonl: the figures need at least 2 steps");
        double Sum(string key) => used.Sum(r => r.Data.TryGetValue(key, out var v) && double.IsFinite(v) ? v : 0);
        var simulated = used.Any(r => r.Data.ContainsKey("sim/time_s"));
        var seconds = Sum("timing_s/step");
        var busy = Sum("timing_s/update") + (simulated ? 0 : Sum("timing_s/sync"));
        var rollouts = Sum("rollouts/count");
        var tokens = used.Sum(r => r.Data.GetValueOrDefault("response_length/mean") * r.Data.GetValueOrDefault("rollouts/count"));
        var staleness = used.Average(r => r.Data.GetValueOrDefault("staleness/mean"));
        return new RunFigures(used.Count, seconds, rollouts, rollouts / Math.Max(seconds, 1e-9), tokens / Math.Max(seconds, 1e-9),
            busy / Math.Max(seconds, 1e-9), staleness);
    }

    /// <summary>Relative error of a prediction against the measured value: (predicted - measured) / measured.</summary>
    public static double Error(double predicted, double measured) => (predicted - measured) / measured;
}
