using System.CommandLine;
using System.Diagnostics;
using Pipeline.Cluster;
using Pipeline.Cluster.Roles;
using Pipeline.Runtime.Actors;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline bench cluster</c>: cluster mode's figures for docs/benchmarks.md, in one run on this machine:
/// weight-sync time against model size to 2 generator nodes (three ActorSystems over TCP on loopback, the production
/// bridge and chunking), rollouts/s of local mode against a 3-process cluster (learner node + 2 generator nodes) on the
/// same config, and the time from kill -9 of a generator process (restarted at once on the same port, as compose or
/// Kubernetes would) until the run's throughput is back, with the run's ledger.
/// </summary>
internal static class BenchClusterCommand
{
    private static readonly Option<int> Steps = new("--steps") { Description = "GRPO steps of the local and the 3-process run.", DefaultValueFactory = _ => 40 };
    private static readonly Option<int> Repeats = new("--repeats") { Description = "Local/3-process pairs of the throughput part, run one after the other (the ratio's median is printed).", DefaultValueFactory = _ => 1 };
    private static readonly Option<string> Sizes = new("--sizes") { Description = "Weight-sync sizes in MB, comma-separated.", DefaultValueFactory = _ => "1,16,128" };
    private static readonly Option<string> Parts = new("--parts") { Description = "Which parts: weights,throughput,kill (comma-separated).", DefaultValueFactory = _ => "weights,throughput,kill" };
    private static readonly Option<DirectoryInfo> Out = new("--out") { Description = "Where the runs go.", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "bench-cluster")) };

    public static Command Create()
    {
        var command = new Command("cluster", "Cluster mode: weight-sync time vs size, local vs 3-process rollouts/s, recovery after kill -9 of a generator.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.HoconDir, Steps, Repeats, Sizes, Parts, Out,
        };
        command.SetAction((parse, ct) => ChildProcess.StopChildrenOnSignal(ct, () => RunAsync(parse)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse)
    {
        var hocon = CommonOptions.ResolveHoconDir(parse.GetValue(CommonOptions.HoconDir));
        var configPath = parse.GetValue(CommonOptions.Config)?.FullName;
        var sets = parse.GetValue(CommonOptions.Set) ?? [];
        var settings = Runtime.Hosting.SettingsValidation.Check(Core.Configuration.PipelineSettings.Load(hocon, "cluster", configPath, sets));
        var parts = parse.GetValue(Parts)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var outDir = Path.GetFullPath(parse.GetValue(Out)!.FullName);
        if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        Directory.CreateDirectory(outDir);
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");

        if (parts.Contains("weights"))
        {
            Console.WriteLine("== weight sync: learner node -> 2 generator nodes (TCP loopback; version announced over distributed pub-sub, 256 KiB chunks pulled from the learner node)");
            var sizes = parse.GetValue(Sizes)!.Split(',').Select(int.Parse).ToList();
            await WeightSyncBenchmark.RunAsync(settings, sizes, repeats: 3, receivers: 2, progress: Console.WriteLine);
        }

        string[] common = [.. configPath is null ? [] : new[] { "--config", configPath }, "--hocon-dir", hocon, .. sets.SelectMany(s => new[] { "--set", s })];
        if (parts.Contains("throughput"))
        {
            var steps = parse.GetValue(Steps);
            var repeats = parse.GetValue(Repeats);
            Console.WriteLine($"== rollouts/s: local mode (2 generators in one process) vs 3 processes (learner node + 2 generator nodes with 1 generator each), " +
                $"{steps} GRPO steps each, {repeats} pair(s) run one after the other (every second pair runs the 3-process run first)");
            var ratios = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                var pairDir = repeats == 1 ? outDir : Path.Combine(outDir, $"pair-{i + 1}");
                var (l, c, localCpu, learnerCpu, generatorCpu) = await ThroughputPairAsync(pairDir, common, steps, clusterFirst: i % 2 == 1);
                var skip = Math.Min(5, steps / 4);
                Console.WriteLine($"pair {i + 1} ({(i % 2 == 1 ? "3-process run first" : "local run first")}), first {skip} steps skipped:");
                Console.WriteLine($"  local:     {l}");
                Console.WriteLine($"  3-process: {c}");
                Console.WriteLine($"  cluster / local = {c.RolloutsPerSec / l.RolloutsPerSec:P1}");
                Console.WriteLine($"  CPU seconds for the whole run (warm-start included): local {localCpu:0.0}, 3 processes {learnerCpu + generatorCpu.Sum():0.0} " +
                    $"(learner {learnerCpu:0.0}, generators {string.Join(" + ", generatorCpu.Select(g => g.ToString("0.0")))})");
                ratios.Add(c.RolloutsPerSec / l.RolloutsPerSec);
            }
            if (repeats > 1)
            {
                var sorted = ratios.Order().ToList();
                var median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
                Console.WriteLine($"cluster / local over {repeats} pairs: {string.Join(", ", ratios.Select(r => r.ToString("P1")))}; median {median:P1}");
            }
        }

        if (parts.Contains("kill")) await KillAsync(Path.Combine(outDir, "kill"), common);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// One local run and one 3-process run of the same config, in the order given (pairs alternate it, so neither mode
    /// always runs on a machine just warmed or tired by the other); each one's figures and CPU-seconds.
    /// </summary>
    private static async Task<(RunMetrics.Summary Local, RunMetrics.Summary Cluster, double LocalCpu, double LearnerCpu, List<double> GeneratorCpu)>
        ThroughputPairAsync(string outDir, string[] common, int steps, bool clusterFirst)
    {
        double localCpu = 0, learnerCpu = 0;
        var generatorCpu = new List<double>();
        async Task Local()
        {
            using var local = ChildProcess.Start("local", ["train", .. common, "--set", $"run-dir={outDir}", "--set", "run-name=local",
                "--set", $"grpo.steps={steps}", "--set", "generation.generators=2"]);
            if (!await local.WaitAsync(TimeSpan.FromMinutes(20)) || local.ExitCode != 0)
                throw new InvalidOperationException($"local run failed:\n{local.Output}");
            localCpu = local.CpuSeconds;
        }
        async Task Cluster()
        {
            var (learner, generators) = StartCluster(Path.Combine(outDir, "cluster"), common, steps);
            try
            {
                var sampler = Task.Run(async () =>
                {
                    while (!learner.HasExited) { foreach (var g in generators) g.SampleCpu(); await Task.Delay(200); }
                });
                if (!await learner.WaitAsync(TimeSpan.FromMinutes(20)) || learner.ExitCode != 0)
                    throw new InvalidOperationException($"cluster run failed:\n{learner.Output}");
                await sampler;
            }
            finally
            {
                foreach (var g in generators) { await g.WaitAsync(TimeSpan.FromSeconds(30)); g.Dispose(); }
                learner.Dispose();
            }
            learnerCpu = learner.CpuSeconds;
            generatorCpu.AddRange(generators.Select(g => g.CpuSeconds));
            foreach (var g in generators)
            {
                var held = g.Output.Split('\n').FirstOrDefault(line => line.StartsWith("credits held for newer weights", StringComparison.Ordinal));
                if (held is not null) Console.WriteLine($"  {g.Name}: {held.Trim()}");
            }
        }
        if (clusterFirst) { await Cluster(); await Local(); }
        else { await Local(); await Cluster(); }
        var skip = Math.Min(5, steps / 4);
        return (RunMetrics.Throughput(Path.Combine(outDir, "local"), skip), RunMetrics.Throughput(Path.Combine(outDir, "cluster"), skip),
            localCpu, learnerCpu, generatorCpu);
    }

    private static string Show(double? seconds) => seconds is { } s ? $"+{s:0.0} s" : "never (within 90 s)";

    private static (ChildProcess Learner, List<ChildProcess> Generators) StartCluster(string runDir, string[] common, int steps, int[]? ports = null)
    {
        ports ??= [ChildProcess.FreePort(), ChildProcess.FreePort(), ChildProcess.FreePort()];
        var learner = ChildProcess.Start("learner", ["node", "--role", "learner,buffer", "--port", ports[0].ToString(), "--run", runDir, "--wait-generators", "2",
            .. common, "--set", $"grpo.steps={steps}"]);
        var generators = ports.Skip(1).Select((p, i) => StartGenerator($"generator-{i}", runDir, common, ports[0], p)).ToList();
        return (learner, generators);
    }

    private static ChildProcess StartGenerator(string name, string runDir, string[] common, int seedPort, int port)
        => ChildProcess.Start(name, ["node", "--role", "generator,annotator", "--port", port.ToString(), "--seed", $"127.0.0.1:{seedPort}",
            "--run", runDir, .. common, "--set", "generation.generators=1"]);

    /// <summary>
    /// A long 3-process run; after 20 GRPO steps one generator process gets SIGKILL and is started again on the same port.
    /// Step completions are timed by watching metrics.jsonl; recovery = the first moment after the kill when the steps of
    /// the last 3 s run at >= 90 % of the rate of the 10 s before the kill. Then the learner is interrupted (Ctrl-C) and
    /// the run's ledger (accounting.json) is read.
    /// </summary>
    private static async Task KillAsync(string runDir, string[] common)
    {
        Console.WriteLine("== kill -9 of a generator process mid-run (restarted at once on the same port), 3 processes");
        int[] ports = [ChildProcess.FreePort(), ChildProcess.FreePort(), ChildProcess.FreePort()];
        var (learner, generators) = StartCluster(runDir, common, steps: 100_000, ports);
        var clock = Stopwatch.StartNew();
        var arrivals = new List<double>();  // seconds on the clock when each GRPO step's row appeared
        void Poll()
        {
            var n = RunMetrics.Steps(runDir).Count;
            while (arrivals.Count < n) arrivals.Add(clock.Elapsed.TotalSeconds);
        }
        double Rate(double from, double to) => arrivals.Count(t => t > from && t <= to) / (to - from);
        try
        {
            while (arrivals.Count < 20)
            {
                if (learner.HasExited || clock.Elapsed > TimeSpan.FromMinutes(10)) throw new InvalidOperationException($"the run did not reach 20 steps:\n{learner.Output}\n{string.Join("\n", generators.Select(g => g.Name + ":\n" + g.Output))}");
                await Task.Delay(50);
                Poll();
            }
            var steady = clock.Elapsed.TotalSeconds + 10;
            while (clock.Elapsed.TotalSeconds < steady) { await Task.Delay(50); Poll(); }
            var killedAt = clock.Elapsed.TotalSeconds;
            var before = Rate(killedAt - 10, killedAt);
            generators[1].KillHard();
            generators[1].Dispose();
            Console.WriteLine($"kill -9 generator-1 (port {ports[2]}) at {killedAt:0.0} s; steady rate before: {before:0.00} steps/s");
            generators[1] = StartGenerator("generator-1b", runDir, common, ports[0], ports[2]);
            double? recovered = null, settled = null, firstGroup = null;
            double lowest = double.MaxValue;
            while (clock.Elapsed.TotalSeconds < killedAt + 90)
            {
                await Task.Delay(50);
                Poll();
                var now = clock.Elapsed.TotalSeconds;
                // The dead incarnation's credit released (its prompt re-issued) and the replacement's first group.
                if (settled is null && learner.Output.Contains("is on a node that left or was downed")) settled = now - killedAt;
                if (firstGroup is null && generators[1].Output.Contains("first group delivered")) firstGroup = now - killedAt;
                if (now >= killedAt + 3)
                {
                    var rate = Rate(now - 3, now);
                    lowest = Math.Min(lowest, rate);
                    if (recovered is null && rate >= 0.9 * before) recovered = now - killedAt;
                }
                if (recovered is not null && firstGroup is not null && (settled is not null || now > killedAt + 30) && now > killedAt + 15) break;
            }
            var bins = Enumerable.Range(-5, 25).Select(s => arrivals.Count(t => t > killedAt + s && t <= killedAt + s + 1)).ToList();
            Console.WriteLine($"steps per 1 s bin from kill-5 s to kill+20 s: {string.Join(" ", bins)}");
            Console.WriteLine($"after the kill: dead incarnation's credit released (work re-issued) at {Show(settled)}, replacement node's first group at {Show(firstGroup)}, " +
                $"3-s step rate >= 90 % of before from {Show(recovered)} (lowest 3-s rate {lowest:0.00} steps/s)");
            learner.Interrupt();
            if (!await learner.WaitAsync(TimeSpan.FromSeconds(90))) throw new TimeoutException($"the learner did not stop after Ctrl-C:\n{learner.Output}");
            var ledger = BufferLedger.Read(Path.Combine(runDir, RunSupervisor.AccountingFile));
            Console.WriteLine(ledger is null ? "no ledger written" :
                $"ledger: credits granted {ledger.CreditsGranted} = accepted {ledger.GroupsAccepted} + released {ledger.CreditsReleased} " +
                $"[{string.Join(", ", ledger.CreditsReleasedBy.Select(kv => $"{kv.Key}: {kv.Value}"))}] + expired {ledger.CreditsExpired} + outstanding {ledger.CreditsOutstanding}; " +
                $"groups accepted {ledger.GroupsAccepted} = served {ledger.GroupsServed} + stale {ledger.GroupsDroppedStale} + in buffer {ledger.GroupsInBuffer}; " +
                $"late {ledger.GroupsDroppedLate}, duplicates {ledger.GroupsDroppedDuplicate}; balanced: {ledger.Balanced}");
        }
        finally
        {
            foreach (var g in generators) { await g.WaitAsync(TimeSpan.FromSeconds(30)); g.Dispose(); }
            learner.Dispose();
        }
    }
}
