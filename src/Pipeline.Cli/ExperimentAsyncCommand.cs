using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline experiment async</c>: wall time to a fixed held-out accuracy, the asynchronous pipeline (ONI, staleness bound
/// grpo.max-staleness as configured) against the fully synchronous one (grpo.max-staleness = 0, critic required), with the
/// SIMULATED critic 1, 3 and 10 times slower than generation. One process, one warm-start.
/// </summary>
internal static class ExperimentAsyncCommand
{
    private static readonly Option<int?> Steps = new("--steps") { Description = "GRPO steps of each run (default: the configured grpo.steps)." };
    private static readonly Option<int> EvalEvery = new("--eval-every") { Description = "Held-out evaluation every N GRPO steps (the time-to-target resolution).", DefaultValueFactory = _ => 10 };
    private static readonly Option<string?> WarmStart = new("--warm-start")
    {
        Description = "A finished warm-start run folder (pipeline train --set grpo.steps=0) to resume every run from, instead of making one; its settings must match yours.",
    };
    private static readonly Option<string> Slowdowns = new("--slowdowns") { Description = "Critic slowdowns against generation, comma-separated.", DefaultValueFactory = _ => "1,3,10" };

    private const int CriticConcurrency = 4;
    private const double AcceptanceFactor = 10;
    private const double AcceptanceSpeedup = 2.5;

    public static Command Create()
    {
        var command = new Command("async", "Sync (max-staleness 0, critic required) vs async (ONI) wall time to a held-out accuracy, critic 1x/3x/10x generation time.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Steps, EvalEvery, Slowdowns, WarmStart,
        };
        command.SetAction((parse, ct) => ExecuteAsync(parse, ct));
        return command;
    }

    internal static double[] ParseSlowdowns(string text)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ConfigException("--slowdowns: give at least one factor, e.g. 1,3,10");
        return [.. parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && f > 0 && double.IsFinite(f)
            ? f : throw new ConfigException($"--slowdowns: '{p}' is not a positive number"))];
    }

    private sealed record Pair(double Factor, TimeSpan Latency, ExperimentOutcome Sync, ExperimentOutcome Async, AccuracyTarget Target);

    private static async Task<int> ExecuteAsync(ParseResult parse, CancellationToken ct)
    {
        var factors = ParseSlowdowns(parse.GetValue(Slowdowns)!);
        var steps = parse.GetValue(Steps);
        if (steps is < 1) throw new ConfigException($"--steps must be at least 1, got {steps}");
        var evalEvery = parse.GetValue(EvalEvery);
        if (evalEvery < 1) throw new ConfigException($"--eval-every must be at least 1, got {evalEvery}");
        var total = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var baseSettings = CommonOptions.Load(parse);
        var budget = steps ?? baseSettings.Grpo.Steps;
        var eta = baseSettings.Grpo.MaxStaleness;
        var root = Path.GetFullPath(Path.Combine(baseSettings.RunDir, ExperimentRuns.FolderName("async")));
        Console.WriteLine($"machine: {ExperimentRuns.Machine()}; runs under {root}");

        var given = parse.GetValue(WarmStart);
        string warm;
        double warmAccuracy, warmSeconds;
        if (given is null)
        {
            warm = Path.Combine(root, "warm-start");
            var (w, seconds) = await ExperimentRuns.WarmStartAsync(parse, warm, [], "warm-start", ct);
            (warmAccuracy, warmSeconds) = (w.WarmStart?.Overall.Accuracy ?? double.NaN, seconds);
        }
        else
        {
            warm = Path.GetFullPath(given);
            // A warm-start folder holds its held-out baseline; without it there is nothing to measure the target against.
            var report = EvalReportFile.Read(Path.Combine(warm, LocalRun.WarmStartEvalFile))
                ?? throw new ConfigException($"--warm-start {warm}: no {LocalRun.WarmStartEvalFile} there (give the folder of a finished `pipeline train --set grpo.steps=0` run)");
            (warmAccuracy, warmSeconds) = (report.Overall.Accuracy, double.NaN);
            Console.WriteLine($"warm-start: {warm} (held-out accuracy {warmAccuracy:P1})");
        }

        string[] common = [$"grpo.steps={budget}", $"eval.every-steps={evalEvery}"];
        var none = await ExperimentRuns.ResumeAsync(parse, warm, Path.Combine(root, "no-critic"), [.. common, "rewards=execution"], "no critic", ct);
        var generation = 1 / none.RolloutsPerSecond;
        Console.WriteLine($"generation time (critic-free pipeline): {generation * 1000:0.0} ms per rollout ({none.RolloutsPerSecond:0.0} rollouts/s)");

        var pairs = new List<Pair>();
        var oracle = "";
        foreach (var f in factors)
        {
            // As experiment oni: the critic's throughput is 1/f of the critic-free pipeline's, CriticConcurrency calls in flight.
            var latency = TimeSpan.FromSeconds(CriticConcurrency * f * generation);
            Console.WriteLine($"critic {f}x: SIMULATED critic at {latency.TotalMilliseconds:0} ms x {CriticConcurrency} in flight = {none.RolloutsPerSecond / f:0.0} labels/s");
            var (server, task, name) = await ExperimentRuns.StartCriticAsync(baseSettings, Path.Combine(root, "critic-sim"), latency);
            oracle = name;
            await using (server)
            using (task)
            {
                string[] critic = [.. common, .. ExperimentRuns.CriticOverrides(server, CriticConcurrency)];
                var sync = await ExperimentRuns.ResumeAsync(parse, warm, Path.Combine(root, $"sync-{f.ToString(CultureInfo.InvariantCulture)}x"),
                    [.. critic, "grpo.max-staleness=0", "rewards=execution,critic", "rewards.sources.critic.required=on",
                     "rewards.sources.critic.deadline=120s", "rewards.slow-pool.workers=8"], $"sync, critic {f}x", ct);
                var async = await ExperimentRuns.ResumeAsync(parse, warm, Path.Combine(root, $"async-{f.ToString(CultureInfo.InvariantCulture)}x"),
                    [.. critic, "oni.enabled=on", "rewards=execution,intrinsic", $"oni.labeller.max-in-flight={CriticConcurrency}"], $"async (ONI), critic {f}x", ct);
                pairs.Add(new Pair(f, latency, sync, async, AccuracyTarget.LowerFinal(warmAccuracy,
                    sync.Final?.Overall.Accuracy ?? double.NaN, async.Final?.Overall.Accuracy ?? double.NaN)));
            }
        }

        var (header, rows) = Layout(pairs.Select(p => (p.Factor, p.Latency, p.Sync, p.Async, p.Target)).ToList());
        var title = $"Sync (max-staleness 0, critic required) vs async (ONI, max-staleness {eta}): {budget} GRPO steps from one warm-start ({warmAccuracy:P1})";
        ExperimentRuns.WidenRedirectedConsole();
        var table = new Table().Title(Markup.Escape(title));
        foreach (var h in header) table.AddColumn(Markup.Escape(h));
        foreach (var row in rows) table.AddRow([.. row.Select(Markup.Escape)]);
        AnsiConsole.Write(table);

        var (profileHeader, profileRows) = Profile([none, .. pairs.SelectMany(p => new[] { p.Sync, p.Async })]);
        var profile = new Table().Title("Where a GRPO step's time goes (mean s per step, learner's timers)");
        foreach (var h in profileHeader) profile.AddColumn(Markup.Escape(h));
        foreach (var row in profileRows) profile.AddRow([.. row.Select(Markup.Escape)]);
        AnsiConsole.Write(profile);

        var verdict = Verdict(pairs.Select(p => (p.Factor, p.Sync, p.Async, p.Target)).ToList());
        Console.WriteLine(verdict);
        foreach (var o in pairs.SelectMany(p => new[] { p.Sync, p.Async }).Prepend(none))
            Console.WriteLine($"{o.Name}: held-out accuracy by step: " + string.Join(", ", o.Evals.Select(e => $"{e.Step}:{e.Accuracy:P1}@{e.Seconds:0}s")));

        var plots = pairs.Select(p => ExperimentPlots.AccuracyOverTime(Path.Combine(root, $"accuracy_time_{p.Factor.ToString(CultureInfo.InvariantCulture)}x.png"),
            $"Held-out accuracy over wall time, critic {p.Factor}x generation time", [(p.Sync.Name, p.Sync.Evals), (p.Async.Name, p.Async.Evals)], p.Target.Value)).ToList();
        var elapsed = total.Elapsed;
        var md = new ExperimentMarkdown("Asynchronous vs synchronous: wall time to a held-out accuracy (issue 18, item 5)")
            .Facts("pipeline " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), ExperimentRuns.Machine(), started, elapsed)
            .Bullets([
                (given is null ? $"One warm-start ({warmSeconds:0} s, " : $"The given warm-start {warm} (") + $"held-out accuracy {warmAccuracy:P1}); every run resumes from it with {budget} GRPO steps, held-out evaluation every {evalEvery} steps.",
                $"Generation time: the critic-free run's (rewards = execution) {generation * 1000:0.0} ms per rollout ({none.RolloutsPerSecond:0.0} rollouts/s). Critic at f x generation time: the SIMULATED critic (critic-sim, {oracle}) answers {CriticConcurrency} calls at once, each after {CriticConcurrency} x f x the generation time, i.e. 1/f of the critic-free rollout rate.",
                "Sync: --set grpo.max-staleness=0 --set rewards=execution,critic --set rewards.sources.critic.required=on --set rewards.sources.critic.deadline=120s --set rewards.slow-pool.workers=8.",
                $"Async: --set oni.enabled=on --set rewards=execution,intrinsic --set oni.labeller.max-in-flight={CriticConcurrency}; grpo.max-staleness = {eta} as configured, the configured labeller sampling rate.",
                $"Target rule: {AccuracyTarget.Rule}. Seconds to target: from the start of the run's GRPO stage (the first step's clock; the run's setup left out, held-out evaluations included) to the first evaluation at or above it.",
                "Ratios in brackets: GRPO wall time and time to target sync / async (the speed-up); rollouts/s async / sync. GRPO wall s = the sum of the learner's step times.",
            ])
            .Table(header, rows)
            .Paragraph("**Against the acceptance line.** " + verdict)
            .Table(profileHeader, profileRows)
            .Paragraph("Plots: " + string.Join(", ", plots.Select(p => $"`{Path.GetFileName(p)}`")) + ".");
        var mdPath = Path.Combine(root, "experiment-async.md");
        await File.WriteAllTextAsync(mdPath, md.ToString(), ct);
        Console.WriteLine($"wrote {mdPath} and {plots.Count} plot(s)");
        Console.WriteLine($"total run time: {ExperimentMarkdown.Duration(elapsed)}");
        return ExitCodes.Ok;
    }

    internal static (string[] Header, List<IReadOnlyList<string>> Rows) Layout(
        IReadOnlyList<(double Factor, TimeSpan Latency, ExperimentOutcome Sync, ExperimentOutcome Async, AccuracyTarget Target)> pairs)
    {
        string[] header = ["critic", "call ms", "rollouts/s sync / async", "GRPO wall s sync / async", "final acc sync / async", "target",
            "s to target sync / async", "speed-up to target"];
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (f, latency, sync, async, target) in pairs)
        {
            string Reach(ExperimentOutcome o) => target.SecondsToReach(o.Evals) is { } s ? $"{s:0} (step {o.Evals.First(e => e.Seconds == s).Step})" : "not reached";
            var (ratio, text) = target.Speedup(sync.Evals, async.Evals);
            rows.Add([$"{f}x", $"{latency.TotalMilliseconds:0}",
                $"{sync.RolloutsPerSecond:0.0} / {async.RolloutsPerSecond:0.0} ({async.RolloutsPerSecond / sync.RolloutsPerSecond:0.00}x)",
                $"{sync.GrpoSeconds:0.0} / {async.GrpoSeconds:0.0} ({sync.GrpoSeconds / async.GrpoSeconds:0.00}x)",
                $"{sync.Final?.Overall.Accuracy:P1} / {async.Final?.Overall.Accuracy:P1}", $"{target.Value:P1}",
                $"{Reach(sync)} / {Reach(async)}", ratio is null && !target.AboveWarmStart ? "n/a: target <= warm-start" : text]);
        }
        return (header, rows);
    }

    /// <summary>Each run's mean seconds per step in each learner timer, for finding where the synchronous run loses its time.</summary>
    internal static (string[] Header, List<IReadOnlyList<string>> Rows) Profile(IReadOnlyList<ExperimentOutcome> runs)
    {
        var keys = runs.SelectMany(r => r.MeanTimings.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        string[] header = ["run", "steps", .. keys.Select(k => k["timing_s/".Length..])];
        var rows = runs.Select(r => (IReadOnlyList<string>)[r.Name, r.Steps.ToString(CultureInfo.InvariantCulture),
            .. keys.Select(k => r.MeanTimings.TryGetValue(k, out var v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "-")]).ToList();
        return (header, rows);
    }

    /// <summary>The acceptance line (speed-up at 10x critic latency at least 2.5x), said as measured: met, not met, or not measurable.</summary>
    internal static string Verdict(IReadOnlyList<(double Factor, ExperimentOutcome Sync, ExperimentOutcome Async, AccuracyTarget Target)> pairs)
    {
        var at = pairs.FirstOrDefault(p => p.Factor == AcceptanceFactor);
        if (at.Sync is null) return $"No run at {AcceptanceFactor}x critic latency: the acceptance line (speed-up >= {AcceptanceSpeedup}x at {AcceptanceFactor}x) was not measured.";
        var (ratio, text) = at.Target.Speedup(at.Sync.Evals, at.Async.Evals);
        var wall = at.Sync.GrpoSeconds / at.Async.GrpoSeconds;
        var head = ratio is { } r
            ? $"At {AcceptanceFactor}x critic latency the time to {at.Target.Value:P1} is {r:0.00}x shorter async than sync: the line (>= {AcceptanceSpeedup}x) is {(r >= AcceptanceSpeedup ? "MET" : "NOT MET")}."
            : $"At {AcceptanceFactor}x critic latency the time-to-target speed-up is undetermined ({text}).";
        return head + $" GRPO wall time for the same {at.Sync.Steps} steps: {wall:0.00}x (sync {at.Sync.GrpoSeconds:0} s, async {at.Async.GrpoSeconds:0} s); " +
               $"rollouts/s: {at.Async.RolloutsPerSecond / at.Sync.RolloutsPerSecond:0.00}x.";
    }
}
