using System.Net;
using System.Net.Sockets;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;

namespace Pipeline.Cli.Tests;

/// <summary>
/// A required critic that never answers masks every rollout: the run stops after pipeline.rewards.max-invalid-steps such
/// steps, naming the source and its failures, instead of "completing" having trained on nothing.
/// </summary>
public class RequiredSourceOutageSpec : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-outage-").FullName;

    public void Dispose() => Directory.Delete(_runs, recursive: true);

    /// <summary>A loopback port nothing listens on: connections are refused at once.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string[] DeadCritic(int maxInvalidSteps, int steps) =>
    [
        "rewards=execution,critic", "rewards.sources.critic.required=on", $"rewards.critic.base-url=\"http://127.0.0.1:{ClosedPort()}/v1\"",
        "rewards.critic.max-retries=0", $"rewards.max-invalid-steps={maxInvalidSteps}", $"grpo.steps={steps}",
        "warm-start.enabled=off", "checkpoint.every-steps=0", "eval.limit=8",
    ];

    private async Task<(RunResult Result, List<Core.Protocol.MetricsReport> Steps)> RunAsync(string name, string[] overrides)
    {
        var settings = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"), overrides);
        var reports = new List<Core.Protocol.MetricsReport>();
        var result = await LocalRun.RunAsync(settings, Path.Combine(_runs, name), false, r => { lock (reports) reports.Add(r); }, null,
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(180));
        lock (reports) return (result, reports.Where(r => r.Data.ContainsKey("policy/version")).ToList());
    }

    [Fact]
    public async Task A_required_critic_on_a_dead_port_fails_the_run_after_max_invalid_steps_naming_the_source_and_its_failures()
    {
        var (result, steps) = await RunAsync("dead", DeadCritic(maxInvalidSteps: 3, steps: 40));

        Assert.Equal(RunStatus.Failed, result.Status);
        Assert.Contains("required reward source 'critic' was invalid in every rollout for 3 consecutive steps", result.Error);
        Assert.Contains("critic transport", result.Error);
        Assert.Contains("pipeline.rewards.critic.base-url", result.Error);
        Assert.Equal(3, steps.Count); // stopped at the third step, not the fortieth
        Assert.All(steps, s => Assert.Equal(0, s.Data["learner/samples"]));
        Assert.NotNull(result.Masking);
        Assert.Equal(1.0, result.Masking!.MaskedFrac);
        Assert.Equal(1.0, result.Masking.InvalidFrac["critic"]);
        Assert.Equal(3, result.Masking.EmptySteps);
    }

    [Fact]
    public async Task With_max_invalid_steps_0_the_run_goes_on_and_its_result_states_that_everything_was_masked()
    {
        var (result, steps) = await RunAsync("unchecked", DeadCritic(maxInvalidSteps: 0, steps: 4));

        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal(4, steps.Count);
        Assert.Equal(1.0, steps[^1].Data["total/masked_frac"]);
        Assert.Equal(4, steps[^1].Data["total/empty_steps"]);
        Assert.Equal(1.0, result.Masking!.MaskedFrac);
        Assert.Equal(0.0, result.Masking.InvalidFrac["execution"]);
    }

    [Fact]
    public void Train_exits_with_code_1_and_prints_the_reason_and_the_masked_share()
    {
        string[] args = ["train", "--hocon-dir", RepoPaths.Hocon, "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"), "--set", "run-dir=" + _runs];
        foreach (var o in DeadCritic(maxInvalidSteps: 2, steps: 40)) args = [.. args, "--set", o];

        var (code, stdout, stderr) = CliProcess.Run(_runs, TimeSpan.FromSeconds(120), args);

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var output = stdout.ReplaceLineEndings(" ");
        Assert.Contains("required reward source 'critic'", output);
        Assert.Contains("masked 100.0 %", output);
        var runDir = Directory.GetDirectories(_runs, "sql__*").Single();
        var last = MetricsRecorder.ReadAll(Path.Combine(runDir, "metrics.jsonl"))[^1];
        Assert.Equal(1.0, last.Data["final/masked_frac"]);
        Assert.Equal(1.0, last.Data["final/invalid_frac/critic"]);
    }
}
