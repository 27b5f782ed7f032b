using System.Globalization;
using System.Text;
using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;

namespace Pipeline.Simulation.Calibration;

/// <summary>One reward source's fitted service: mean latency (s), invalid share, mean value, and for a slow one its workers.</summary>
public sealed record SourceFit(string Name, double LatencyS, double ErrorRate, double PCorrect, int? Workers, string Note);

/// <summary>The costs fitted from a real run (<see cref="CostCalibration"/>), as figures and as a cost file.</summary>
public sealed record CalibratedCosts(
    string RunDir,
    int StepsUsed,
    LinearFit Generation,
    string GenerationPoints,
    double CompletionMean,
    double CompletionStd,
    double CompletionMeanDeclared,
    double TruncatedFrac,
    int MaxTokens,
    int PromptTokens,
    LinearFit Update,
    double SyncS,
    bool SyncInStep,
    IReadOnlyList<SourceFit> Sources)
{
    private static string N(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
    private static string R2(LinearFit f) => double.IsNaN(f.R2) ? "" : $", R2 {f.R2.ToString("0.###", CultureInfo.InvariantCulture)}";

    /// <summary>The fit as a cost file (the keys of costs.conf), each value with the figures it came from.</summary>
    public string ToHocon()
    {
        var b = new StringBuilder();
        b.AppendLine($"# Fitted by `pipeline simulate --calibrate-from {RunDir}` from {StepsUsed} GRPO steps (metrics.jsonl; the first and any right after an evaluation left out).");
        b.AppendLine("# Edit freely: pass this file as --costs to reuse it; every key is documented in src/Pipeline.Simulation/costs.conf.");
        b.AppendLine("costs {");
        b.AppendLine("  generator {");
        b.AppendLine($"    # timing_s/gen of a group = group-overhead + per-token * its completion tokens: {Generation.Method} over {GenerationPoints}{R2(Generation)}");
        b.AppendLine($"    group-overhead = {N(Generation.Intercept)}");
        b.AppendLine($"    per-token = {N(Generation.Slope)}");
        b.AppendLine($"    # response_length/mean {N(CompletionMean)}, std {N(CompletionStd)} within batches, {N(TruncatedFrac * 100)} % cut at max-tokens {MaxTokens}:");
        b.AppendLine("    # the mean below is the one whose draws, rounded and kept in [1, max-tokens] as the simulation does, average the measured mean");
        b.AppendLine($"    completion-tokens {{ distribution = normal, mean = {N(CompletionMeanDeclared)}, stddev = {N(CompletionStd)} }}");
        b.AppendLine($"    # prompt_length/mean");
        b.AppendLine($"    prompt-tokens = {PromptTokens}");
        b.AppendLine("  }");
        b.AppendLine("  sources {");
        foreach (var s in Sources)
        {
            b.AppendLine($"    # {s.Note}");
            b.Append($"    {s.Name} {{ latency = {N(s.LatencyS)}, error-rate = {N(s.ErrorRate)}, rate-limit-rate = 0, timeout-rate = 0, p-correct = {N(s.PCorrect)}");
            b.AppendLine(s.Workers is { } w ? $", kind = slow, workers = {w}, queue = {UnboundedQueue} }}" : ", kind = fast }");
        }
        b.AppendLine("  }");
        b.AppendLine("  learner {");
        b.AppendLine($"    # timing_s/update = a + per-token * (actor/tokens + learner/samples * prompt_length/mean): {Update.Method} over {N(Update.Points)} steps{R2(Update)};");
        if (SyncInStep)
            b.AppendLine($"    # step-overhead = a ({N(Update.Intercept)}) + the mean timing_s/sync ({N(SyncS)}): the real learner publishes weights inside its step");
        b.AppendLine($"    step-overhead = {N(Update.Intercept + (SyncInStep ? SyncS : 0))}");
        b.AppendLine($"    per-token = {N(Update.Slope)}");
        b.AppendLine("    # The delivery time is weight-sync.overhead below; no bytes on top of it.");
        b.AppendLine("    weight-bytes = 0");
        b.AppendLine("  }");
        b.AppendLine(SyncInStep
            ? "  # Publishing is in step-overhead: a local run's generators read the published version at once."
            : "  # A simulated run's timing_s/sync is the delivery time after the step, which the learner does not wait for.");
        b.AppendLine($"  weight-sync.overhead = {N(SyncInStep ? 0 : SyncS)}");
        b.AppendLine("}");
        return b.ToString();
    }

    /// <summary>The real critic client queues calls beyond its concurrency instead of refusing them.</summary>
    public const int UnboundedQueue = 1_000_000;
}

/// <summary>
/// Fits a simulation's cost models from a real run's metrics.jsonl (rows written by the real learner, read as
/// src/Pipeline.Runtime/Metrics/BatchMetrics.cs and Actors/Learner.cs define them) and its config.conf:
/// the generator's per-group time against the group's completion tokens (least squares over every group, from the
/// generation/* sums), completion and prompt lengths, each reward source's latency, invalid share and mean value, and the
/// learner's update time against the tokens it trained, over <see cref="RunFigures.Steady"/> steps.
/// </summary>
public static class CostCalibration
{
    private static readonly string[] Required =
        ["timing_s/update", "timing_s/sync", "timing_s/gen", "timing_s/gen_total", "response_length/mean", "learner/samples", "prompt_length/mean", "rollouts/count"];

    /// <summary>Fits from run folder <paramref name="runDir"/> (metrics.jsonl and config.conf).</summary>
    public static CalibratedCosts FromRunFolder(string runDir)
    {
        if (!Directory.Exists(runDir)) throw new ConfigException($"--calibrate-from {runDir}: no such folder");
        var configPath = Path.Combine(runDir, "config.conf");
        if (!File.Exists(configPath)) throw new ConfigException($"--calibrate-from {runDir}: no config.conf (the run's resolved settings) in it");
        var config = ConfigurationFactory.ParseString(File.ReadAllText(configPath));
        return Fit(RunFigures.ReadRows(runDir), config, runDir);
    }

    /// <summary>Fits from the metrics rows <paramref name="rows"/> of a run whose resolved settings are <paramref name="config"/>.</summary>
    public static CalibratedCosts Fit(IReadOnlyList<MetricsReport> rows, Config config, string runDir)
    {
        var used = RunFigures.Steady(rows);
        if (used.Count < 3)
            throw new ConfigException($"--calibrate-from {runDir}: {used.Count} steady GRPO steps in metrics.jsonl (the first and any right after an evaluation are left out); the fit needs at least 3");
        var missing = Required.Where(k => !used.All(r => r.Data.ContainsKey(k))).ToList();
        if (missing.Count > 0)
            throw new ConfigException($"--calibrate-from {runDir}: metrics.jsonl lacks {string.Join(", ", missing)} in some GRPO steps (a run of an older version, or not a pipeline train run): run it again");
        // The real learner writes actor/tokens only for a step that trained on something (all masked: no update, 0 tokens).
        if (!used.Any(r => r.Data.ContainsKey("actor/tokens")))
            throw new ConfigException($"--calibrate-from {runDir}: metrics.jsonl has no actor/tokens in any GRPO step: the learner never trained");
        double Get(MetricsReport r, string k) => r.Data.TryGetValue(k, out var v) && double.IsFinite(v) ? v : 0;

        var groupSize = Int(config, "pipeline.generation.group-size");
        var maxTokens = Int(config, "pipeline.generation.max-tokens");

        // Generation: every group's (tokens, seconds) through the per-step sums; older runs only have per-step means.
        LinearFit generation;
        string points;
        if (used.All(r => r.Data.ContainsKey("generation/group_tokens_x_time_sum")))
        {
            double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
            foreach (var r in used)
            {
                n += Get(r, "generation/groups"); sx += Get(r, "generation/group_tokens_sum"); sy += Get(r, "timing_s/gen_total");
                sxx += Get(r, "generation/group_tokens_sq_sum"); sxy += Get(r, "generation/group_tokens_x_time_sum");
            }
            generation = LinearFit.FromSums(n, sx, sy, sxx, sxy);
            points = $"{n:0} groups";
        }
        else
        {
            generation = LinearFit.Of(used.Select(r => Get(r, "response_length/mean") * groupSize).ToList(), used.Select(r => Get(r, "timing_s/gen")).ToList());
            points = $"{used.Count} step means (metrics.jsonl has no generation/* sums)";
        }

        var rollouts = used.Sum(r => Get(r, "rollouts/count"));
        double Weighted(string key) => used.Sum(r => Get(r, key) * Get(r, "rollouts/count")) / rollouts;
        var lengthMean = Weighted("response_length/mean");
        // Pooled within-batch spread where recorded; else the spread of the batch means (smaller: a lower bound).
        var lengthStd = used.All(r => r.Data.ContainsKey("response_length/std"))
            ? Math.Sqrt(used.Sum(r => Get(r, "response_length/std") * Get(r, "response_length/std") * Get(r, "rollouts/count")) / rollouts)
            : Std(used.Select(r => Get(r, "response_length/mean")).ToList());
        var truncated = Weighted("response/truncated_frac");
        var declaredMean = UnclampedMean(lengthMean, lengthStd, maxTokens);
        var promptTokens = Math.Max(1, (int)Math.Round(Weighted("prompt_length/mean")));

        // Learner: update time against the tokens trained (completion tokens of unmasked rollouts plus their prompts).
        var update = LinearFit.Of(
            used.Select(r => Get(r, "actor/tokens") + Get(r, "learner/samples") * Get(r, "prompt_length/mean")).ToList(),
            used.Select(r => Get(r, "timing_s/update")).ToList());
        var sync = used.Average(r => Get(r, "timing_s/sync"));

        var sources = new List<SourceFit>();
        var names = used.SelectMany(r => r.Data.Keys).Where(k => k.StartsWith("reward/", StringComparison.Ordinal) && k.EndsWith("/latency_ms", StringComparison.Ordinal))
            .Select(k => k["reward/".Length..^"/latency_ms".Length]).Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            var withSource = used.Where(r => r.Data.ContainsKey($"reward/{name}/latency_ms")).ToList();
            var weight = withSource.Sum(r => Get(r, "rollouts/count"));
            double Mean(string key) => withSource.Sum(r => Get(r, key) * Get(r, "rollouts/count")) / weight;
            var values = withSource.Select(r => r.Data.GetValueOrDefault($"reward/{name}/mean", double.NaN)).Where(double.IsFinite).ToList();
            var pCorrect = values.Count > 0 ? Math.Clamp(values.Average(), 0, 1) : 0;
            var type = config.GetString($"pipeline.rewards.sources.{name}.type", name);
            int? workers = null;
            var note = $"reward/{name}/latency_ms, invalid_frac and mean over {withSource.Count} steps";
            if (type == "critic")
            {
                // One simulated call scores a whole group; the real client sends one request per rollout, `concurrency` at once.
                var concurrency = Int(config, "pipeline.rewards.critic.concurrency");
                workers = Math.Max(1, concurrency / groupSize);
                note += $"; workers = rewards.critic.concurrency {concurrency} / group-size {groupSize} (a simulated call is one group)";
            }
            sources.Add(new SourceFit(name, Mean($"reward/{name}/latency_ms") / 1000, Math.Clamp(Mean($"reward/{name}/invalid_frac"), 0, 1),
                pCorrect, workers, note));
        }

        return new CalibratedCosts(runDir, used.Count, generation, points, lengthMean, lengthStd, declaredMean, truncated, maxTokens, promptTokens,
            update, sync, !used.Any(r => r.Data.ContainsKey("sim/time_s")), sources);
    }

    private static int Int(Config config, string key)
    {
        if (!config.HasPath(key)) throw new ConfigException($"the run's config.conf has no {key}");
        return config.GetInt(key);
    }

    private static double Std(IReadOnlyList<double> xs)
    {
        if (xs.Count < 2) return 0;
        var mean = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
    }

    /// <summary>
    /// The normal mean whose draws, rounded and kept in [1, <paramref name="max"/>] (as the simulated sampler does), average
    /// <paramref name="target"/>: a run with most completions cut at max-tokens would otherwise be simulated short.
    /// </summary>
    internal static double UnclampedMean(double target, double std, int max)
    {
        if (std <= 0 || target >= max) return Math.Min(target, max);
        var draws = new double[4000];
        var rng = new Random(1);
        for (var i = 0; i < draws.Length; i++)
            draws[i] = Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        double ClampedMean(double mu) => draws.Average(z => Math.Clamp(Math.Round(mu + std * z), 1, max));
        double lo = target - 4 * std - 1, hi = target + 8 * std + max;
        for (var k = 0; k < 50; k++)
        {
            var mid = (lo + hi) / 2;
            if (ClampedMean(mid) < target) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }
}
