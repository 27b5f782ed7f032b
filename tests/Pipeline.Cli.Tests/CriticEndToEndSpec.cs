using System.Net;
using System.Net.Sockets;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Pipeline.Tasks.Sql;

namespace Pipeline.Cli.Tests;

/// <summary>Training with an LLM critic that fails, in process and in another process (critic-sim).</summary>
public class CriticEndToEndSpec : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-critic-").FullName;

    public void Dispose() => Directory.Delete(_runs, recursive: true);

    private static PipelineSettings Settings(params string[] overrides)
        => PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"), overrides);

    [Fact]
    public async Task Training_goes_on_through_1000_rollouts_with_a_critic_failing_30_percent_and_every_failure_is_accounted_for()
    {
        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions
        {
            Urls = "http://127.0.0.1:0", ErrorRate = 0.3, RetryAfter = TimeSpan.FromMilliseconds(20), Seed = 7,
        });
        // 63 steps x 4 groups x 4 rollouts = 1,008 rollouts, each judged by a critic that is REQUIRED: a critic failure masks it.
        var settings = Settings("grpo.steps=63", "warm-start.max-epochs=1", "grpo.max-staleness=2", "rewards=execution,critic",
            "rewards.sources.critic.required=on", "rewards.sources.critic.deadline=20s",
            $"rewards.critic.base-url=\"{judge.BaseUrl}\"", "rewards.critic.retry-base-delay=5ms", "rewards.critic.retry-max-delay=50ms",
            "rewards.critic.cache-entries=0", "rewards.critic.breaker-failure-ratio=0.9", "rewards.critic.dense=on");
        // The user-registration path: our own "critic" factory keeps a handle on the source to read its ledger at the end.
        LlmCriticReward? critic = null;
        var registry = BuiltInRewardSources.Registry().Register("critic", c => critic = LlmCriticReward.Create(c));
        var reports = new List<MetricsReport>();
        var result = await LocalRun.RunAsync(settings, Path.Combine(_runs, "flaky"), resume: false, r => { lock (reports) reports.Add(r); },
            status: null, CancellationToken.None, registry).WaitAsync(TimeSpan.FromSeconds(300));

        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal(63, result.Step);
        var steps = reports.Where(r => r.Data.ContainsKey("policy/version")).ToList();
        Assert.Equal(63, steps.Count);
        Assert.True(steps.Sum(r => r.Data["rollouts/count"]) >= 1000);
        // Nothing vanishes inside a batch: every rollout was trained on or masked with a reason.
        Assert.All(steps, r => Assert.Equal(r.Data["rollouts/count"], r.Data["learner/samples"] + r.Data["rollouts/masked"]));
        Assert.True(steps.Sum(r => r.Data["critic/critic/retries"] > 0 ? 1 : 0) > 0, "no step saw a retry");
        // Dense feedback: the judge's marked spans reached the learner as per-token advantage bonuses.
        Assert.True(steps[^1].Data["reward/dense_tokens"] > 0, "no token received a dense bonus");

        // Once the run is over (calls still in flight at the end are cancelled), the client's ledger balances exactly:
        // every request succeeded, failed for a counted reason, or was cancelled.
        Assert.NotNull(critic);
        var counters = critic!.Client.Counters;
        for (var wait = 0; wait < 50 && counters.Requests != counters.Successes + counters.FailureTotal + counters.Cancelled; wait++)
        {
            await Task.Delay(100);
            counters = critic.Client.Counters;
        }
        Assert.Equal(counters.Requests, counters.Successes + counters.FailureTotal + counters.Cancelled);
        Assert.True(counters.Retries > 100, $"only {counters.Retries} retries for a 30 % error rate");
        // Every error the server injected was met by a retry or by a counted final failure.
        var stats = judge.Stats;
        Assert.Equal(stats.Injected500 + stats.Injected429,
            counters.Retries + counters.Failed(CriticFailure.Http5xx) + counters.Failed(CriticFailure.Http429));
        // A rollout whose critic signal is invalid in a batch is one the client counted as failed or cancelled; none is a silent 0.
        var invalidCritic = steps.Sum(r => r.Data["reward/critic/invalid_count"]);
        Assert.True(invalidCritic <= counters.FailureTotal + counters.Cancelled,
            $"{invalidCritic} invalid critic signals in batches, but the client counted only {counters.FailureTotal} failures");
    }

    [Fact]
    public void Train_scores_with_the_critic_served_by_critic_sim_in_another_process()
    {
        var port = FreePort();
        using var sim = CliProcess.Start(_runs, "critic-sim", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--task", "exact");
        CliProcess.WaitForHttp($"http://127.0.0.1:{port}/v1/models", TimeSpan.FromSeconds(60));

        var (code, stdout, stderr) = CliProcess.Run(_runs, TimeSpan.FromSeconds(240), "train", "--hocon-dir", RepoPaths.Hocon,
            "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            "--set", "run-dir=" + _runs, "--set", "rewards=execution,rubric,critic",
            "--set", $"rewards.critic.base-url=\"http://127.0.0.1:{port}/v1\"", "--set", "rewards.sources.critic.required=on");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var runDir = Directory.GetDirectories(_runs, "sql__*").Single();
        var steps = MetricsRecorder.ReadAll(Path.Combine(runDir, "metrics.jsonl")).Where(r => r.Data.ContainsKey("policy/version")).ToList();
        Assert.NotEmpty(steps);
        Assert.All(steps, r => Assert.Equal(0.0, r.Data["reward/critic/invalid_frac"]));
        Assert.True(steps[^1].Data["critic/critic/successes"] > 0);
        Assert.True(File.Exists(Path.Combine(runDir, "plots", "reward_invalid.png")));
    }

    /// <summary>
    /// `docker compose stop` and Kubernetes stop critic-sim with SIGTERM: it stops serving and exits 143 (128 + SIGTERM, what
    /// both count as a normal stop), with no exception on the way out.
    /// </summary>
    [Fact]
    public void Critic_sim_exits_cleanly_on_SIGTERM()
    {
        var port = FreePort();
        using var sim = CliProcess.Start(_runs, "critic-sim", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--task", "exact");
        CliProcess.WaitForHttp($"http://127.0.0.1:{port}/v1/models", TimeSpan.FromSeconds(60));

        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", sim.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            Assert.True(kill.WaitForExit(10_000) && kill.ExitCode == 0, "kill -TERM failed");
        Assert.True(sim.Process.WaitForExit(30_000), "critic-sim did not exit within 30 s of SIGTERM");
        sim.Process.WaitForExit();  // drains the redirected output
        Assert.Contains("stopped:", sim.StdOut);
        Assert.DoesNotContain("Unhandled exception", sim.StdErr + sim.StdOut);
        Assert.True(sim.Process.ExitCode == 143, $"exit {sim.Process.ExitCode}\n{sim.StdOut}\n{sim.StdErr}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>ONI mode end to end: the critic labels a sample asynchronously, a reward model learns online, the intrinsic source scores all.</summary>
public class OniEndToEndSpec : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-oni-").FullName;

    public void Dispose() => Directory.Delete(_runs, recursive: true);

    [Fact]
    public async Task The_reward_model_learns_from_a_sample_of_critic_labels_scores_every_rollout_and_resumes_with_the_run()
    {
        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions
        {
            Urls = "http://127.0.0.1:0", Latency = TimeSpan.FromMilliseconds(50), Seed = 3,
        });
        string[] overrides = ["grpo.steps=20", "warm-start.max-epochs=1", "oni.enabled=on", "rewards=execution,intrinsic",
            $"rewards.critic.base-url=\"{judge.BaseUrl}\"", "oni.labeller.sampling-rate=0.15", "oni.training.warmup-labels=8",
            "oni.training.publish-every-versions=4", "checkpoint.every-steps=10"];
        var settings = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"), overrides);
        var runDir = Path.Combine(_runs, "oni");
        var reports = new List<MetricsReport>();
        var result = await LocalRun.RunAsync(settings, runDir, false, r => { lock (reports) reports.Add(r); }, null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(240));

        Assert.Equal(RunStatus.Completed, result.Status);
        var steps = reports.Where(r => r.Data.ContainsKey("policy/version")).ToList();
        var last = steps[^1].Data;
        Assert.True(last["critic/labels"] > 8, $"only {last["critic/labels"]} labels");
        Assert.InRange(last["critic/seen_frac"], 0.01, 0.2);           // the critic saw a sample, not everything
        Assert.True(last["rm/version"] > 0 && last["rm/published_version"] > 0);
        Assert.True(last["intrinsic/model_version"] > 0, "the intrinsic source never received a published reward model");
        Assert.All(steps, r => Assert.Equal(0.0, r.Data["reward/intrinsic/invalid_frac"])); // every rollout scored, none waited
        Assert.True(File.Exists(Path.Combine(runDir, OniSetup.Folder, "labels-train.jsonl")));
        Assert.NotNull(OniSetup.Latest(runDir));

        // Resume: the reward model and the labels kept with the run (written at each publication) come back.
        var kept = File.ReadLines(Path.Combine(runDir, OniSetup.Folder, "labels-train.jsonl")).Count()
                   + File.ReadLines(Path.Combine(runDir, OniSetup.Folder, "labels-heldout.jsonl")).Count();
        Assert.True(kept > 0);
        var resumed = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"), [.. overrides, "grpo.steps=24"]);
        var more = new List<MetricsReport>();
        var second = await LocalRun.RunAsync(resumed, runDir, true, r => { lock (more) more.Add(r); }, null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(240));
        Assert.Equal(RunStatus.Completed, second.Status);
        var first = more.First(r => r.Data.ContainsKey("policy/version")).Data;
        Assert.True(first["rm/labels"] >= kept, $"resumed with {first["rm/labels"]} labels, {kept} were kept");
        Assert.True(first["intrinsic/model_version"] >= last["rm/published_version"], "the resumed intrinsic source started from scratch");
    }
}

/// <summary>An optional slow source without ONI scores almost nothing in time: building it says so, naming the setting.</summary>
public class OptionalSlowSourceWarningSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-optional-slow-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("off", true)]
    [InlineData("on", false)]
    public void An_optional_critic_without_ONI_is_warned_about_a_required_one_is_not(string required, bool warned)
    {
        var settings = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            ["rewards=execution,rubric,critic", $"rewards.sources.critic.required={required}"]);
        using var task = TaskCatalog.Create(settings, _dir);
        var warnings = new List<string>();
        var sources = RewardSources.Build(settings, task, BuiltInRewardSources.Registry(), warnings.Add);
        RewardSources.Dispose(sources);

        var about = warnings.Where(w => w.Contains("'critic'", StringComparison.Ordinal)).ToList();
        if (warned)
        {
            var warning = Assert.Single(about);
            Assert.Contains("pipeline.rewards.sources.critic.required = on", warning);
            Assert.Contains("pipeline.oni.enabled = on", warning);
        }
        else
            Assert.Empty(about);
        // Fast sources are never warned about, optional or not (rubric is optional here).
        Assert.DoesNotContain(warnings, w => w.Contains("'rubric'", StringComparison.Ordinal) || w.Contains("'execution'", StringComparison.Ordinal));
    }
}

/// <summary>A rubric's principle answered by the LLM critic (here the simulated SQL judge), through the built-in registry.</summary>
public class RubricWithCriticSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-rubric-judge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_sql_rubrics_principle_goes_to_the_critic_and_separates_a_right_answer_from_a_wrong_one()
    {
        var settings = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"), []);
        using var task = (SqlPipelineTask)TaskCatalog.Create(settings, _dir);
        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0" },
            SqlSimulatedOracle.ForTask(task, Path.Combine(_dir, "databases")));
        var withJudge = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            ["rewards=execution,rubric", "rewards.rubric.judge=critic", $"rewards.critic.base-url=\"{judge.BaseUrl}\""]);
        var sources = RewardSources.Build(withJudge, task, BuiltInRewardSources.Registry(), _ => { });
        try
        {
            var rubric = sources.Single(s => s.Spec.Name == "rubric").Source;
            Assert.Equal(Pipeline.Core.Rewards.RewardSourceKind.Slow, rubric.Kind); // principles make it a remote judge's source

            var prompt = task.RlPrompts[0];
            var gold = prompt.Reference!;
            var wrong = gold.Contains("WHERE", StringComparison.OrdinalIgnoreCase) ? gold[..gold.IndexOf("WHERE", StringComparison.OrdinalIgnoreCase)].TrimEnd() : gold + " LIMIT 0";
            var group = new RolloutGroup("g", prompt, 0,
            [
                new Rollout("g-0", "g", prompt.Id, 0, [1], [2], [-1f], gold, false),
                new Rollout("g-1", "g", prompt.Id, 0, [1], [2], [-1f], wrong, false),
            ], TimeSpan.Zero);

            var signals = await rubric.ScoreAsync(group, CancellationToken.None);

            Assert.All(signals, s => Assert.True(s.Valid, s.Details));
            Assert.Contains("answers_question=1", signals[0].Details);
            Assert.Contains("answers_question=0", signals[1].Details);
            Assert.True(signals[0].Value > signals[1].Value);
            Assert.True(judge.Stats.Answered >= 2);
        }
        finally
        {
            RewardSources.Dispose(sources);
        }
    }
}
