using System.CommandLine;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline bench chaos</c>: the <see cref="ChaosScenario"/> (kill -9 of a generator process, kill -9 and restart of
/// the only learner process, SIGSTOP/SIGCONT of a generator process) run N times in a row, each time printing the
/// recovery times, whether the run finished, the ledger, and whether the policy version ever went backwards.
/// </summary>
internal static class BenchChaosCommand
{
    private static readonly Option<int> Steps = new("--steps") { Description = "GRPO steps of each run: enough to span the three faults.", DefaultValueFactory = _ => 2000 };
    private static readonly Option<int> Repeats = new("--repeats") { Description = "Runs, one after the other.", DefaultValueFactory = _ => 1 };
    private static readonly Option<int> Pause = new("--pause") { Description = "Seconds the generator process stays stopped (SIGSTOP) before SIGCONT.", DefaultValueFactory = _ => 25 };
    private static readonly Option<DirectoryInfo> Out = new("--out") { Description = "Where the runs go.", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "bench-chaos")) };

    public static Command Create()
    {
        var command = new Command("chaos", """
            Cluster mode under faults, 3 processes on 127.0.0.1 (learner,buffer + 2 generator,annotator nodes): kill -9 of a
            generator process (restarted on its port), kill -9 of the learner process (restarted on its port with the same run
            folder; it resumes from its newest checkpoint and the generator nodes rejoin by themselves), SIGSTOP of a generator
            process for --pause seconds then SIGCONT (a node cut off without root network tricks). Prints the recovery times,
            the run's result and ledger, and whether the policy version ever went backwards.
            """)
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.HoconDir, Steps, Repeats, Pause, Out,
        };
        command.SetAction((parse, ct) => ChildProcess.StopChildrenOnSignal(ct, () => RunAsync(parse)));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse)
    {
        var hocon = CommonOptions.ResolveHoconDir(parse.GetValue(CommonOptions.HoconDir));
        var configPath = parse.GetValue(CommonOptions.Config)?.FullName ?? Path.Combine(hocon, "smoke.conf");
        var sets = parse.GetValue(CommonOptions.Set) ?? [];
        // Fails early on a bad key, before any process starts.
        Core.Configuration.PipelineSettings.Load(hocon, "cluster", configPath, sets);
        var outDir = Path.GetFullPath(parse.GetValue(Out)!.FullName);
        if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        Directory.CreateDirectory(outDir);
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        // A checkpoint every 10 steps: the restarted learner node loses at most that much work.
        string[] common = ["--config", configPath, "--hocon-dir", hocon, "--set", "warm-start.max-epochs=1", "--set", "eval.limit=10",
            "--set", "checkpoint.every-steps=10", "--set", "grpo.batch-groups=2", "--set", "generation.group-size=4", .. sets.SelectMany(s => new[] { "--set", s })];
        var repeats = parse.GetValue(Repeats);
        var failed = 0;
        for (var i = 0; i < repeats; i++)
        {
            Console.WriteLine($"== chaos run {i + 1} of {repeats}");
            var result = await ChaosScenario.RunAsync(Path.Combine(outDir, $"run-{i + 1}"), common, parse.GetValue(Steps),
                TimeSpan.FromSeconds(parse.GetValue(Pause)), Console.WriteLine);
            var l = result.Ledger;
            Console.WriteLine(l is null ? "no ledger written" :
                $"ledger of the last buffer incarnation: credits granted {l.CreditsGranted} = accepted {l.GroupsAccepted} + released {l.CreditsReleased} " +
                $"[{string.Join(", ", l.CreditsReleasedBy.Select(kv => $"{kv.Key}: {kv.Value}"))}] + expired {l.CreditsExpired} + outstanding {l.CreditsOutstanding}; " +
                $"groups accepted {l.GroupsAccepted} = served {l.GroupsServed} + stale {l.GroupsDroppedStale} + in buffer {l.GroupsInBuffer}; late {l.GroupsDroppedLate}; balanced: {l.Balanced}");
            var backwards = result.VersionsBackwards;
            Console.WriteLine($"policy versions over {result.Versions.Count} rows: {(backwards.Count == 0 ? "never went backwards" : "WENT BACKWARDS: " + string.Join("; ", backwards))}");
            var ok = result.LearnerExit == 0 && result.Generators.All(g => g.Exit == 0) && l is { Balanced: true } && backwards.Count == 0;
            Console.WriteLine(ok ? "run passed" : "run FAILED");
            if (!ok) failed++;
        }
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }
}
