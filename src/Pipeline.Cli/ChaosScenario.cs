using System.Diagnostics;
using System.Text.Json;
using Pipeline.Runtime.Actors;

namespace Pipeline.Cli;

/// <summary>
/// Cluster mode under faults, with real OS processes on 127.0.0.1: a learner node (learner,buffer, no standby) and two
/// generator nodes (generator,annotator). In turn: a generator process gets SIGKILL and is started again on its port (as
/// an orchestrator would); the learner process gets SIGKILL and is started again on its port with the same run folder
/// (it resumes from its newest checkpoint; the generator nodes, downed by the split-brain resolver, rejoin by
/// themselves); a generator process is cut off with SIGSTOP for a while and let go with SIGCONT (it stays alive but
/// answers nothing, as behind a blackholed link: the learner side downs it, and it rejoins). Then the run goes on to its
/// last step. Times are taken by watching the processes' output and metrics.jsonl.
/// </summary>
internal static class ChaosScenario
{
    public sealed record Result(int LearnerExit, IReadOnlyList<(string Name, int? Exit)> Generators, BufferLedger? Ledger,
        IReadOnlyList<(long Step, long Version)> Versions, IReadOnlyList<string> Figures, string Output)
    {
        /// <summary>Rows whose policy version is lower than the row before (file order).</summary>
        public IReadOnlyList<string> VersionsBackwards =>
            Versions.Zip(Versions.Skip(1)).Where(p => p.Second.Version < p.First.Version)
                .Select(p => $"step {p.First.Step} v{p.First.Version} -> step {p.Second.Step} v{p.Second.Version}").ToList();
    }

    /// <param name="runDir">The run folder (created).</param>
    /// <param name="common">Options every node gets (config, hocon dir, --set ...).</param>
    /// <param name="steps">GRPO steps of the whole run: enough to span the three faults.</param>
    /// <param name="pause">How long the generator process stays stopped (SIGSTOP): longer than failure detection plus the split-brain resolver's stable-after (about 13 s) gets it downed.</param>
    public static async Task<Result> RunAsync(string runDir, string[] common, int steps, TimeSpan pause, Action<string> log)
    {
        int[] ports = [ChildProcess.FreePort(), ChildProcess.FreePort(), ChildProcess.FreePort()];
        var seed = $"127.0.0.1:{ports[0]}";
        ChildProcess Learner(string name) => ChildProcess.Start(name, ["node", "--role", "learner,buffer", "--port", ports[0].ToString(), "--run", runDir,
            "--wait-generators", "2", .. common, "--set", $"grpo.steps={steps}"]);
        ChildProcess Generator(string name, int port) => ChildProcess.Start(name, ["node", "--role", "generator,annotator", "--port", port.ToString(),
            "--seed", seed, "--run", runDir, .. common, "--set", "generation.generators=1"]);
        var clock = Stopwatch.StartNew();
        var learner = Learner("learner");
        var b = Generator("b", ports[1]);
        var c = Generator("c", ports[2]);
        var dead = new List<ChildProcess>();
        var figures = new List<string>();
        void Figure(string line) { figures.Add(line); log(line); }
        int StepsNow() => RunMetrics.Steps(runDir).Count;
        double Now() => clock.Elapsed.TotalSeconds;
        string All() => string.Join("\n", new[] { learner, b, c }.Concat(dead).Select(p => $"--- {p.Name} (pid {p.Id}{(p.HasExited ? $", exited {p.ExitCode}" : "")}):\n{p.Output}"));
        async Task<double> Until(Func<bool> condition, TimeSpan deadline, string what)
        {
            var until = DateTime.UtcNow + deadline;
            while (!condition())
            {
                if (learner.HasExited) throw new InvalidOperationException($"the learner node exited ({learner.ExitCode}) before: {what} (a run that finished early needs more --steps)\n{All()}");
                if (DateTime.UtcNow > until) throw new TimeoutException($"not within {deadline.TotalSeconds:0} s: {what}\n{All()}");
                await Task.Delay(100);
            }
            return Now();
        }
        // Polls every condition together and returns, for each, the seconds from `from` when it first held.
        async Task<double[]> FirstTimes(double from, TimeSpan deadline, string what, params Func<bool>[] conditions)
        {
            var times = new double?[conditions.Length];
            await Until(() =>
            {
                for (var i = 0; i < conditions.Length; i++) if (times[i] is null && conditions[i]()) times[i] = Now() - from;
                return times.All(t => t is not null);
            }, deadline, what);
            return times.Select(t => t!.Value).ToArray();
        }
        static int Count(ChildProcess p, string text)
        {
            var output = p.Output;
            var n = 0;
            for (var i = output.IndexOf(text, StringComparison.Ordinal); i >= 0; i = output.IndexOf(text, i + 1, StringComparison.Ordinal)) n++;
            return n;
        }
        const string FirstGroup = "first group delivered";
        const string Rejoined = "rejoined the cluster";
        try
        {
            await Until(() => StepsNow() >= 10, TimeSpan.FromMinutes(6), "10 GRPO steps");
            log($"10 steps at {Now():0.0} s");

            // 1. kill -9 of a generator process, started again on its port.
            var at = Now();
            var rowsAt = StepsNow();
            b.KillHard();
            await b.WaitAsync(TimeSpan.FromSeconds(10));
            dead.Add(b);
            b = Generator("b2", ports[1]);
            var t1 = await FirstTimes(at, TimeSpan.FromMinutes(3), "the replacement generator's first group and a GRPO step after the kill",
                () => Count(b, FirstGroup) > 0, () => StepsNow() > rowsAt);
            Figure($"kill -9 generator b after {rowsAt} GRPO steps, restarted at once on its port: replacement process's first group +{t1[0]:0.0} s; " +
                $"the run's next step +{t1[1]:0.0} s (generator c kept it going)");
            var rows = StepsNow();
            await Until(() => StepsNow() >= rows + 10, TimeSpan.FromMinutes(3), "10 more GRPO steps");

            // 2. kill -9 of the learner process (no standby), started again on its port with the same run folder.
            var (rejoinedB, rejoinedC, groupsB, groupsC) = (Count(b, Rejoined), Count(c, Rejoined), Count(b, FirstGroup), Count(c, FirstGroup));
            at = Now();
            learner.KillHard();
            await learner.WaitAsync(TimeSpan.FromSeconds(10));
            dead.Add(learner);
            // Read once the process is gone: rows written until the kill belong to the old incarnation.
            var versionBefore = NewestVersion(runDir);
            rowsAt = StepsNow();
            learner = Learner("learner2");
            var t2 = await FirstTimes(at, TimeSpan.FromMinutes(4), "both generator nodes rejoined the restarted learner node and delivered to it, and the resumed run's first step",
                () => Count(b, Rejoined) > rejoinedB, () => Count(c, Rejoined) > rejoinedC,
                () => Count(b, FirstGroup) > groupsB, () => Count(c, FirstGroup) > groupsC, () => StepsNow() > rowsAt);
            var versionAfter = NewestVersion(runDir);
            Figure($"kill -9 learner node after {rowsAt} GRPO rows (policy version {versionBefore}), restarted at once on its port and run folder: " +
                $"generator nodes (same processes) rejoined +{t2[0]:0.0} s and +{t2[1]:0.0} s, delivering again +{t2[2]:0.0} s and +{t2[3]:0.0} s; " +
                $"resumed run's first step +{t2[4]:0.0} s (policy version {versionAfter})");
            rows = StepsNow();
            await Until(() => StepsNow() >= rows + 10, TimeSpan.FromMinutes(3), "10 more GRPO steps after the learner restart");

            // 3. The generator process c cut off: SIGSTOP, then SIGCONT.
            var (rejoinedStopped, groupsStopped) = (Count(c, Rejoined), Count(c, FirstGroup));
            rowsAt = StepsNow();
            c.Pause();
            await Task.Delay(pause);
            c.Resume();
            var resumedAt = Now();
            var stepsWhileStopped = StepsNow() - rowsAt;
            var t3 = await FirstTimes(resumedAt, TimeSpan.FromMinutes(4), "the stopped generator rejoined and delivered again",
                () => Count(c, Rejoined) > rejoinedStopped, () => Count(c, FirstGroup) > groupsStopped);
            Figure($"SIGSTOP generator c for {pause.TotalSeconds:0} s ({stepsWhileStopped} steps meanwhile, by generator b), SIGCONT: c, downed by the learner side, " +
                $"rejoined +{t3[0]:0.0} s after SIGCONT and delivered again +{t3[1]:0.0} s");

            // The run goes on to its last step; then every process ends by itself.
            if (!await learner.WaitAsync(TimeSpan.FromMinutes(10))) throw new TimeoutException($"the run did not finish within 10 minutes\n{All()}");
            var generators = new List<(string, int?)>();
            foreach (var g in new[] { b, c }) generators.Add((g.Name, await g.WaitAsync(TimeSpan.FromSeconds(60)) ? g.ExitCode : null));
            Figure($"run finished at {Now():0.0} s: learner node exit {learner.ExitCode}, generator nodes {string.Join(", ", generators.Select(g => $"{g.Item1} exit {g.Item2?.ToString() ?? "still running"}"))}");
            var ledger = BufferLedger.Read(Path.Combine(runDir, RunSupervisor.AccountingFile));
            return new Result(learner.ExitCode, generators, ledger, Versions(runDir), figures, All());
        }
        finally
        {
            if (!c.HasExited) c.Resume();
            foreach (var p in new[] { learner, b, c }.Concat(dead)) p.Dispose();
        }
    }

    /// <summary>The newest policy version in the run's metrics rows.</summary>
    private static long NewestVersion(string runDir) => Pipeline.Cluster.Roles.RunHost.NewestRecordedVersion(runDir);

    /// <summary>Every GRPO row's step and policy version, in file order (a line cut short by a kill is skipped).</summary>
    public static List<(long Step, long Version)> Versions(string runDir)
    {
        var rows = new List<(long, long)>();
        var path = Path.Combine(runDir, "metrics.jsonl");
        if (!File.Exists(path)) return rows;
        foreach (var line in File.ReadLines(path))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.GetProperty("data").TryGetProperty("policy/version", out var v) && v.ValueKind == JsonValueKind.Number)
                    rows.Add((doc.RootElement.GetProperty("step").GetInt64(), (long)v.GetDouble()));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { }
        }
        return rows;
    }
}
