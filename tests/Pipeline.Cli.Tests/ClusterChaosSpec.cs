using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Pipeline.Cli.Tests;

/// <summary>
/// Cluster mode under faults, with real OS processes on 127.0.0.1 (`pipeline node`: a learner node without standby and
/// two generator nodes). When the learner process dies (SIGKILL) the split-brain resolver downs the generator nodes; they
/// must come back by themselves to the learner node restarted on the same port and run folder, not exit.
/// </summary>
public sealed class ClusterChaosSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-chaos-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    private string[] Common(string run) => ["--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"), "--hocon-dir", RepoPaths.Hocon, "--run", run,
        "--set", "warm-start.max-epochs=1", "--set", "eval.limit=10", "--set", "checkpoint.every-steps=5",
        "--set", "grpo.batch-groups=2", "--set", "generation.group-size=4"];

    [Fact]
    [Trait("Category", "Long")]
    public async Task Generator_nodes_rejoin_a_learner_node_restarted_after_SIGKILL_and_deliver_groups_to_it()
    {
        var run = Path.Combine(_runs, "run");
        int[] ports = [ChildProcess.FreePort(), ChildProcess.FreePort(), ChildProcess.FreePort()];
        ChildProcess Learner(string name) => ChildProcess.Start(name, ["node", "--role", "learner,buffer", "--port", ports[0].ToString(),
            "--wait-generators", "2", "--set", "grpo.steps=100000", .. Common(run)]);
        ChildProcess Generator(string name, int port) => ChildProcess.Start(name, ["node", "--role", "generator,annotator", "--port", port.ToString(),
            "--seed", $"127.0.0.1:{ports[0]}", "--set", "generation.generators=1", .. Common(run)]);
        var first = Learner("learner");
        using var b = Generator("b", ports[1]);
        using var c = Generator("c", ports[2]);
        ChildProcess? second = null;
        try
        {
            await Until(() => RunMetrics.Steps(run).Count >= 10, TimeSpan.FromMinutes(4), "10 GRPO steps", first);
            var killedAt = RunMetrics.Steps(run).Count;
            // A generator may not have delivered yet in a run this short: count the lines from here on.
            int Delivered(ChildProcess g) => g.Output.Split("first group delivered").Length - 1;
            var (deliveredB, deliveredC) = (Delivered(b), Delivered(c));
            first.KillHard();
            Assert.True(await first.WaitAsync(TimeSpan.FromSeconds(10)), "SIGKILL did not end the learner process");
            second = Learner("learner2");

            // The same generator processes, downed meanwhile, join the new learner node and deliver groups to it.
            foreach (var g in new[] { b, c })
                await Until(() => g.Output.Contains("rejoined the cluster"), TimeSpan.FromMinutes(3), $"generator {g.Name} rejoined", g);
            await Until(() => Delivered(b) > deliveredB && Delivered(c) > deliveredC,
                TimeSpan.FromMinutes(2), "both generator nodes delivered to the restarted learner node", second, () => $"b:\n{b.Output}\nc:\n{c.Output}");
            await Until(() => RunMetrics.Steps(run).Count >= killedAt + 10, TimeSpan.FromMinutes(2), "10 GRPO steps of the resumed run", second);
            Assert.Contains("resuming the run under way", second.Output);
            Assert.False(b.HasExited || c.HasExited, $"a generator process exited\nb:\n{b.Output}\nc:\n{c.Output}");
            output.WriteLine(string.Join("\n", new[] { b, c }.Select(g => $"{g.Name}: " + Regex.Match(g.Output, "rejoined the cluster [^\n]*").Value)));

            // SIGTERM on the restarted learner node: checkpoint, 143, no exception; the generator nodes end with it.
            second.Interrupt();
            Assert.True(await second.WaitAsync(TimeSpan.FromSeconds(90)), "the learner node did not stop after SIGTERM:\n" + second.Output);
            Assert.True(second.ExitCode == 143, $"learner exited {second.ExitCode}:\n{second.Output}");
            Assert.Contains("run Interrupted", second.Output);
            Assert.DoesNotContain("error:", second.Output);
            foreach (var g in new[] { b, c })
            {
                Assert.True(await g.WaitAsync(TimeSpan.FromSeconds(60)), $"generator node {g.Name} still running 60 s after the learner node left:\n{g.Output}");
                Assert.True(g.ExitCode == 0, $"generator node {g.Name} exited {g.ExitCode}:\n{g.Output}");
                Assert.Contains("the learner node left", g.Output);
            }
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
        }
    }

    [Fact]
    [Trait("Category", "Long")]
    public async Task A_run_through_generator_and_learner_kills_and_a_stopped_node_finishes_with_a_balanced_ledger_and_no_version_going_back()
    {
        var run = Path.Combine(_runs, "chaos");
        string[] common = ["--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"), "--hocon-dir", RepoPaths.Hocon,
            "--set", "warm-start.max-epochs=1", "--set", "eval.limit=10", "--set", "checkpoint.every-steps=10",
            "--set", "grpo.batch-groups=2", "--set", "generation.group-size=4"];
        var result = await ChaosScenario.RunAsync(run, common, steps: 2000, pause: TimeSpan.FromSeconds(25), output.WriteLine);

        Assert.True(result.LearnerExit == 0, $"learner node exited {result.LearnerExit}:\n{result.Output}");
        Assert.Contains("run Completed: step 2000", result.Output);
        Assert.All(result.Generators, g => Assert.True(g.Exit == 0, $"generator node {g.Name} ended with {g.Exit?.ToString() ?? "no exit"}:\n{result.Output}"));
        Assert.True(result.Ledger is { Balanced: true }, $"ledger missing or unbalanced:\n{result.Output}");
        Assert.True(result.Versions.Count >= 2000, $"only {result.Versions.Count} GRPO rows");
        Assert.Empty(result.VersionsBackwards);
        Assert.Equal(3, result.Figures.Count(f => f.Contains('+')));
    }

    private static async Task Until(Func<bool> condition, TimeSpan deadline, string what, ChildProcess watched, Func<string>? others = null)
    {
        var until = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (watched.HasExited) throw new Xunit.Sdk.XunitException($"{watched.Name} exited ({watched.ExitCode}) before: {what}\n{watched.Output}");
            if (DateTime.UtcNow > until) throw new TimeoutException($"not reached within {deadline.TotalSeconds:0}s: {what}\n{watched.Name}:\n{watched.Output}\n{others?.Invoke()}");
            await Task.Delay(100);
        }
    }
}
