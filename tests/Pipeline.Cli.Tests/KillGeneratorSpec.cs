using System.Diagnostics;
using System.Text.RegularExpressions;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;

namespace Pipeline.Cli.Tests;

/// <summary>
/// Three OS processes on 127.0.0.1 (`pipeline node`: a learner node, two generator nodes). One generator process is
/// killed with SIGKILL mid-run and started again on the same port (as compose or Kubernetes restart a container): the
/// run keeps training, the new incarnation joins and delivers groups, and the run's ledger balances, with no credit left
/// with the dead incarnation: every rollout was trained, is still in the buffer, or was dropped with a reason.
/// </summary>
public sealed class KillGeneratorSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-kill-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_generator_process_killed_with_SIGKILL_is_replaced_and_the_run_loses_nothing()
    {
        var run = Path.Combine(_runs, "run");
        string[] common = ["--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"), "--hocon-dir", RepoPaths.Hocon, "--run", run,
            "--set", "warm-start.max-epochs=1", "--set", "eval.limit=10", "--set", "checkpoint.every-steps=100000",
            "--set", "grpo.batch-groups=2", "--set", "generation.group-size=4"];
        int[] ports = [ChildProcess.FreePort(), ChildProcess.FreePort(), ChildProcess.FreePort()];
        var clock = Stopwatch.StartNew();
        using var learner = ChildProcess.Start("learner", ["node", "--role", "learner,buffer", "--port", ports[0].ToString(), "--wait-generators", "2",
            "--set", "grpo.steps=100000", .. common]);
        ChildProcess Generator(string name, int port) => ChildProcess.Start(name, ["node", "--role", "generator,annotator", "--port", port.ToString(),
            "--seed", $"127.0.0.1:{ports[0]}", "--set", "generation.generators=1", .. common]);
        using var b = Generator("b", ports[1]);
        var c = Generator("c", ports[2]);
        ChildProcess? c2 = null;
        try
        {
            await Until(() => RunMetrics.Steps(run).Count >= 10, TimeSpan.FromSeconds(120), "10 GRPO steps", learner);
            var killedAt = RunMetrics.Steps(run).Count;
            c.KillHard();
            Assert.True(await c.WaitAsync(TimeSpan.FromSeconds(10)), "SIGKILL did not end the process");
            output.WriteLine($"killed c (port {ports[2]}) at step {killedAt}, {clock.Elapsed.TotalSeconds:0.0}s");
            c2 = Generator("c2", ports[2]);
            await Until(() => c2.Output.Contains("generator node"), TimeSpan.FromSeconds(90), "the replacement generator node started", c2);
            var rejoinedAt = RunMetrics.Steps(run).Count;
            output.WriteLine($"replacement up at step {rejoinedAt}, {clock.Elapsed.TotalSeconds:0.0}s");
            await Until(() => RunMetrics.Steps(run).Count >= rejoinedAt + 20, TimeSpan.FromSeconds(90), "20 more GRPO steps", learner);

            learner.Interrupt();
            Assert.True(await learner.WaitAsync(TimeSpan.FromSeconds(90)), "the learner node did not stop after SIGTERM (its Ctrl-C):\n" + learner.Output);
            output.WriteLine(learner.Output.Split('\n').LastOrDefault(l => l.StartsWith("run ")) ?? "(no result line)");
            Assert.True(learner.ExitCode == 143, $"learner exited {learner.ExitCode}:\n{learner.Output}");
            Assert.True(await b.WaitAsync(TimeSpan.FromSeconds(60)) && await c2.WaitAsync(TimeSpan.FromSeconds(60)),
                $"generator nodes still running 60 s after the learner node left\nb:\n{b.Output}\nc2:\n{c2.Output}");
            foreach (var g in new[] { b, c2 })
            {
                var delivered = Regex.Match(g.Output, @"delivered (\d+) groups");
                output.WriteLine($"{g.Name}: {delivered.Value}");
                Assert.True(delivered.Success && int.Parse(delivered.Groups[1].Value) > 0, $"generator node {g.Name} delivered nothing:\n{g.Output}");
            }

            var ledger = BufferLedger.Read(Path.Combine(run, RunSupervisor.AccountingFile));
            Assert.True(ledger is not null, $"no ledger in {run}: {string.Join(", ", Directory.GetFileSystemEntries(run).Select(Path.GetFileName))}\nlearner:\n{learner.Output}");
            output.WriteLine($"ledger: granted {ledger.CreditsGranted}, accepted {ledger.GroupsAccepted}, served {ledger.GroupsServed}, stale {ledger.GroupsDroppedStale}, " +
                $"late {ledger.GroupsDroppedLate}, expired {ledger.CreditsExpired}, released {ledger.CreditsReleased} " +
                $"[{string.Join(", ", ledger.CreditsReleasedBy.Select(kv => $"{kv.Key}: {kv.Value}"))}], outstanding {ledger.CreditsOutstanding} held by [{string.Join(", ", ledger.CreditHolders)}]");
            Assert.True(ledger.Balanced, "the run's ledger does not balance");
            // The killed generator held a credit (a running generator always holds one: it asks for the next before it
            // samples); it ended as "its node was lost", not as outstanding. Each live generator holds at most two
            // (the group being sampled and one of lookahead).
            Assert.True(ledger.CreditsReleasedBy.GetValueOrDefault("generator's node lost") >= 1, "the dead incarnation's credit was not settled");
            Assert.True(ledger.CreditsOutstanding <= 4, $"{ledger.CreditsOutstanding} credits outstanding at the end");
            // Served = trained, plus at most the one batch on its way to the learner when Ctrl-C stopped it.
            var steps = RunMetrics.Steps(run).Count;
            Assert.InRange(ledger.GroupsServed, steps * 2, (steps + 1) * 2);
        }
        finally
        {
            c.Dispose();
            c2?.Dispose();
        }
    }

    private static async Task Until(Func<bool> condition, TimeSpan deadline, string what, ChildProcess watched)
    {
        var until = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (watched.HasExited) throw new Xunit.Sdk.XunitException($"{watched.Name} exited ({watched.ExitCode}) before: {what}\n{watched.Output}");
            if (DateTime.UtcNow > until) throw new TimeoutException($"not reached within {deadline.TotalSeconds:0}s: {what}\n{watched.Name}:\n{watched.Output}");
            await Task.Delay(100);
        }
    }
}
