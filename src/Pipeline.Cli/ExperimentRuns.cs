using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Tasks.Sql;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>One GRPO run of an experiment: its throughput, held-out evaluations over time, and final report.</summary>
internal sealed record ExperimentOutcome(string Name, double RolloutsPerSecond, double GrpoSeconds, double RunSeconds, long Steps,
    IReadOnlyList<EvalPoint> Evals, EvalReport? WarmStart, EvalReport? Final, IReadOnlyDictionary<string, double> LastStep,
    IReadOnlyDictionary<string, double> MeanTimings);

/// <summary>A held-out evaluation during a run: seconds since its GRPO stage began (setup left out, evaluations included), step, accuracies.</summary>
internal sealed record EvalPoint(double Seconds, long Step, double Accuracy, double ExactMatch);

/// <summary>
/// The steps the experiments share: a warm-start (grpo.steps = 0), GRPO runs resumed from a copy of it with overrides, and the
/// SIMULATED critic server (the task's SQL oracle) they call.
/// </summary>
internal static class ExperimentRuns
{
    public static string Machine()
        => $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, {(Environment.Is64BitProcess ? "64-bit" : "32-bit")}";

    /// <summary>Output sent to a file has no width and Spectre assumes 80 columns, which wraps every cell of a wide table.</summary>
    public static void WidenRedirectedConsole(int width = 400)
    {
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < width) AnsiConsole.Profile.Width = width;
    }

    public static string FolderName(string experiment) => $"experiment-{experiment}__{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}";

    /// <summary>Warm-starts into <paramref name="dir"/> with the user's settings plus <paramref name="overrides"/>; returns the result and its wall seconds.</summary>
    public static async Task<(RunResult Result, double Seconds)> WarmStartAsync(ParseResult parse, string dir, IEnumerable<string> overrides, string tag,
        CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var result = await LocalRun.RunAsync(CommonOptions.Load(parse, ["grpo.steps=0", .. overrides]), dir, false, null,
            s => Console.WriteLine($"[{tag}] {s}"), ct);
        if (result.Status == RunStatus.Interrupted) throw new OperationCanceledException($"{tag}: interrupted");
        if (result.Status != RunStatus.Completed) throw new InvalidOperationException($"{tag}: {result.Status} {result.Error}");
        Console.WriteLine($"[{tag}] done in {clock.Elapsed.TotalSeconds:0} s, held-out accuracy {result.WarmStart?.Overall.Accuracy:P1}");
        return (result, clock.Elapsed.TotalSeconds);
    }

    /// <summary>A GRPO run resumed from a copy of the warm-start folder <paramref name="warm"/> (its config snapshot and GRPO checkpoints left out).</summary>
    public static async Task<ExperimentOutcome> ResumeAsync(ParseResult parse, string warm, string runDir, IEnumerable<string> overrides, string name,
        CancellationToken ct)
    {
        CopyDirectory(warm, runDir);
        File.Delete(Path.Combine(runDir, LocalRun.ConfigSnapshotFile));
        var checkpoints = Path.Combine(runDir, "checkpoints");
        if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, true);

        var settings = CommonOptions.Load(parse, overrides);
        var steps = new List<MetricsReport>();
        var evals = new List<EvalPoint>();
        Console.WriteLine($"[{name}] starting");
        var clock = Stopwatch.StartNew();
        var grpoStart = double.NaN;
        var result = await LocalRun.RunAsync(settings, runDir, resume: true, r =>
        {
            lock (steps)
            {
                var now = clock.Elapsed.TotalSeconds;
                if (r.Data.ContainsKey("policy/version"))
                {
                    // GRPO began when the first step's clock started: its report time less its step time (which includes waiting for the first batch).
                    if (steps.Count == 0) grpoStart = now - r.Data["timing_s/step"];
                    steps.Add(r);
                }
                if (r.Data.TryGetValue("eval/accuracy", out var acc))
                    evals.Add(new EvalPoint(now, r.Step, acc, r.Data.GetValueOrDefault("eval/exact_match", double.NaN)));
            }
        }, null, ct);
        var runSeconds = clock.Elapsed.TotalSeconds;
        if (result.Status == RunStatus.Interrupted) throw new OperationCanceledException($"{name}: interrupted");
        if (result.Status != RunStatus.Completed) throw new InvalidOperationException($"{name}: {result.Status} {result.Error}");
        if (steps.Count == 0) throw new InvalidOperationException($"{name}: the run reported no GRPO step");
        var rollouts = steps.Sum(r => r.Data["rollouts/count"]);
        var grpo = steps.Sum(r => r.Data["timing_s/step"]);
        Console.WriteLine($"[{name}] done: {steps.Count} steps, {rollouts / grpo:0.0} rollouts/s, GRPO {grpo:0} s, final accuracy {result.Final?.Overall.Accuracy:P1}");
        // Where a step's time goes (veRL's stage timers): the mean of each timing_s/* over the run's steps.
        var timings = steps.SelectMany(r => r.Data.Keys).Where(k => k.StartsWith("timing_s/", StringComparison.Ordinal)).Distinct()
            .ToDictionary(k => k, k => steps.Where(r => r.Data.ContainsKey(k)).Average(r => r.Data[k]), StringComparer.Ordinal);
        lock (steps)
            return new ExperimentOutcome(name, rollouts / grpo, grpo, runSeconds, steps.Count, [.. evals.Select(e => e with { Seconds = Math.Max(0, e.Seconds - grpoStart) })],
                result.WarmStart, result.Final, steps[^1].Data, timings);
    }

    /// <summary>
    /// The SIMULATED critic for <paramref name="settings"/>' task: the SQL oracle (executes the candidate and the gold query on the
    /// task's databases) for the built-in sql task, else the exact-match oracle (the reference, normalised). Says which.
    /// </summary>
    public static async Task<(SimulatedCriticServer Server, IDisposable? Task, string Oracle)> StartCriticAsync(PipelineSettings settings, string dir, TimeSpan latency)
    {
        var task = TaskCatalog.Create(settings, dir);
        ISimulatedOracle oracle;
        string name;
        if (task is SqlPipelineTask sql)
        {
            oracle = SqlSimulatedOracle.ForTask(sql, Path.Combine(dir, "databases"), settings.Task.Sql.QueryTimeout);
            name = "SQL oracle (execution of candidate vs gold on the task's databases)";
        }
        else
        {
            task.Dispose();
            task = null;
            oracle = new ExactMatchOracle();
            name = $"exact-match oracle (task '{settings.Task.Name}' has no SQL oracle)";
        }
        var server = await SimulatedCriticServer.StartAsync(
            new SimulatedCriticOptions { Urls = "http://127.0.0.1:0", Latency = latency, Seed = settings.Seed }, oracle);
        return (server, task, name);
    }

    /// <summary>The overrides that point the critic source (and ONI's labeller) at <paramref name="server"/>, uncached.</summary>
    public static string[] CriticOverrides(SimulatedCriticServer server, int concurrency)
        => [$"rewards.critic.base-url=\"{server.BaseUrl}\"", $"rewards.critic.concurrency={concurrency}", "rewards.critic.cache-entries=0"];

    /// <summary>Copies a run folder (a warm-start) file by file into <paramref name="to"/>.</summary>
    internal static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }
}
