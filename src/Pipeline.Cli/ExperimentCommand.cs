using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Tasks.Sql;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline experiment oni</c>: the ONI experiment of docs/experiments.md, in one process and one command. One shared
/// warm-start, then three GRPO runs from it on the SQL task with the simulated critic (SQL oracle) made N times slower than
/// the critic-free pipeline: (a) critic required on every rollout, (b) ONI (the critic labels a sample for an online reward
/// model that scores everything), (c) no critic.
/// </summary>
internal static class ExperimentCommand
{
    private static readonly Option<int> Steps = new("--steps") { Description = "GRPO steps of each run.", DefaultValueFactory = _ => 40 };
    private static readonly Option<int> EvalEvery = new("--eval-every") { Description = "Held-out evaluation every N steps.", DefaultValueFactory = _ => 10 };
    private static readonly Option<double> Slowdown = new("--critic-slowdown") { Description = "How many times slower than the critic-free pipeline the critic is.", DefaultValueFactory = _ => 10 };
    private static readonly Option<double> Sampling = new("--label-share") { Description = "Share of completions the critic labels in ONI mode.", DefaultValueFactory = _ => 0.15 };

    public static Command Create()
    {
        var oni = new Command("oni", "Critic required vs ONI vs no critic, side by side, with a critic 10x slower than generation.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Steps, EvalEvery, Slowdown, Sampling,
        };
        oni.SetAction((parse, ct) => OniAsync(parse, ct));
        return new Command("experiment", "Experiments recorded in docs/experiments.md.") { oni, OniRewardModelCommand.Create(), ExperimentTableCommand.Create(), ExperimentAsyncCommand.Create() };
    }

    private sealed record Outcome(string Name, double RolloutsPerSecond, double WallSeconds, List<(double Seconds, long Step, double Accuracy)> Evals,
        double FinalAccuracy, double Agreement, double LabelledShare, double RmLabels);

    private static async Task<int> OniAsync(ParseResult parse, CancellationToken ct)
    {
        var steps = parse.GetValue(Steps);
        var evalEvery = parse.GetValue(EvalEvery);
        var slowdown = parse.GetValue(Slowdown);
        var share = parse.GetValue(Sampling);
        var baseSettings = CommonOptions.Load(parse);
        var root = Path.GetFullPath(Path.Combine(baseSettings.RunDir, "experiment-oni__" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; runs under {root}");

        // One warm-start shared by the three runs.
        var warm = Path.Combine(root, "warm-start");
        var clock = Stopwatch.StartNew();
        var w = await LocalRun.RunAsync(CommonOptions.Load(parse, ["grpo.steps=0"]), warm, false, null, s => Console.WriteLine("[warm-start] " + s), ct);
        if (w.Status == RunStatus.Interrupted) return ExitCodes.Interrupted;
        if (w.Status != RunStatus.Completed) throw new InvalidOperationException($"warm-start: {w.Status} {w.Error}");
        Console.WriteLine($"warm-start: {clock.Elapsed.TotalSeconds:0} s, held-out accuracy {w.WarmStart?.Overall.Accuracy:P1}");

        string[] common = [$"grpo.steps={steps}", $"eval.every-steps={evalEvery}", "metrics.plots=on"];
        var none = await RunAsync(parse, ct, warm, Path.Combine(root, "c-no-critic"), [.. common, "rewards=execution"], "c) no critic");
        var capacity = none.RolloutsPerSecond / slowdown;
        const int concurrency = 4;
        var latency = TimeSpan.FromSeconds(concurrency / capacity);
        Console.WriteLine($"no critic: {none.RolloutsPerSecond:0.0} rollouts/s -> critic-sim at {latency.TotalMilliseconds:0} ms x {concurrency} in flight = {capacity:0.0} labels/s ({slowdown}x slower)");

        using var task = (SqlPipelineTask)TaskCatalog.Create(baseSettings, Path.Combine(root, "critic-sim"));
        var oracle = SqlSimulatedOracle.ForTask(task, Path.Combine(root, "critic-sim", "databases"), baseSettings.Task.Sql.QueryTimeout);
        await using var judge = await SimulatedCriticServer.StartAsync(
            new SimulatedCriticOptions { Urls = "http://127.0.0.1:0", Latency = latency, Seed = baseSettings.Seed }, oracle);
        string[] critic = [.. common, $"rewards.critic.base-url=\"{judge.BaseUrl}\"", $"rewards.critic.concurrency={concurrency}", "rewards.critic.cache-entries=0"];

        var oni = await RunAsync(parse, ct, warm, Path.Combine(root, "b-oni"),
            [.. critic, "oni.enabled=on", "rewards=execution,intrinsic", $"oni.labeller.sampling-rate={share.ToString(CultureInfo.InvariantCulture)}",
             $"oni.labeller.max-in-flight={concurrency}"], "b) ONI");
        var sync = await RunAsync(parse, ct, warm, Path.Combine(root, "a-critic-required"),
            [.. critic, "rewards=execution,critic", "rewards.sources.critic.required=on", "rewards.sources.critic.deadline=120s",
             "rewards.slow-pool.workers=8"], "a) critic required");

        var target = sync.FinalAccuracy - 0.02;
        var table = new Table().Title($"ONI experiment: {steps} GRPO steps from one warm-start ({w.WarmStart?.Overall.Accuracy:P1}); critic {slowdown}x slower; target accuracy = (a)'s final - 2 points = {target:P1}")
            .AddColumns("run", "rollouts/s", "vs (c)", "GRPO wall s", $"wall s to {target:P1}", "final held-out acc", "critic-labelled share", "RM agreement (held-out labels)");
        foreach (var o in new[] { sync, oni, none })
        {
            var reach = o.Evals.FirstOrDefault(e => e.Accuracy >= target);
            table.AddRow(o.Name, $"{o.RolloutsPerSecond:0.0}", $"{o.RolloutsPerSecond / none.RolloutsPerSecond:P0}", $"{o.WallSeconds:0}",
                reach == default ? "not reached" : $"{reach.Seconds:0} (step {reach.Step})", $"{o.FinalAccuracy:P1}",
                double.IsNaN(o.LabelledShare) ? "" : $"{o.LabelledShare:P1}",
                double.IsNaN(o.Agreement) ? "" : $"{o.Agreement:P1} ({o.RmLabels:0} labels)");
        }
        AnsiConsole.Write(table);
        foreach (var o in new[] { sync, oni, none })
            Console.WriteLine($"{o.Name}: held-out accuracy by step: " + string.Join(", ", o.Evals.Select(e => $"{e.Step}:{e.Accuracy:P1}@{e.Seconds:0}s")));
        return ExitCodes.Ok;
    }

    private static async Task<Outcome> RunAsync(ParseResult parse, CancellationToken ct, string warm, string runDir, string[] overrides, string name)
    {
        // Start from the shared warm-start: copy its folder (checkpoints, tokenizer, databases), not its config snapshot.
        ExperimentRuns.CopyDirectory(warm, runDir);
        File.Delete(Path.Combine(runDir, LocalRun.ConfigSnapshotFile));
        foreach (var grpo in Directory.GetDirectories(runDir, "step-*", SearchOption.TopDirectoryOnly)) Directory.Delete(grpo, true);
        var checkpoints = Path.Combine(runDir, "checkpoints");
        if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, true);

        var settings = CommonOptions.Load(parse, overrides);
        var reports = new List<MetricsReport>();
        var evals = new List<(double, long, double)>();
        Stopwatch? clock = null;
        Console.WriteLine($"[{name}] starting");
        var result = await LocalRun.RunAsync(settings, runDir, resume: true, r =>
        {
            lock (reports)
            {
                if (r.Data.ContainsKey("policy/version")) { clock ??= Stopwatch.StartNew(); reports.Add(r); }
                if (r.Data.TryGetValue("eval/accuracy", out var acc)) evals.Add((clock?.Elapsed.TotalSeconds ?? 0, r.Step, acc));
            }
        }, null, ct);
        if (result.Status == RunStatus.Interrupted) throw new OperationCanceledException($"{name}: interrupted");
        if (result.Status != RunStatus.Completed) throw new InvalidOperationException($"{name}: {result.Status} {result.Error}");
        var steps = reports.Skip(1).ToList();
        var rollouts = steps.Sum(r => r.Data["rollouts/count"]);
        var wall = steps.Sum(r => r.Data["timing_s/step"]);
        var last = reports[^1].Data;
        var offered = reports.Sum(r => r.Data["rollouts/count"]);
        Console.WriteLine($"[{name}] done: {rollouts / wall:0.0} rollouts/s, final accuracy {result.Final?.Overall.Accuracy:P1}");
        return new Outcome(name, rollouts / wall, clock?.Elapsed.TotalSeconds ?? wall, evals, result.Final?.Overall.Accuracy ?? double.NaN,
            last.GetValueOrDefault("rm/agreement", double.NaN),
            last.TryGetValue("critic/seen_frac", out var seen) ? seen : last.ContainsKey("critic/critic/successes") ? last["critic/critic/successes"] / offered : double.NaN,
            last.GetValueOrDefault("rm/labels", 0));
    }
}
