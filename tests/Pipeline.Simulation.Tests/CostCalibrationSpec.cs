using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Simulation.Calibration;
using Pipeline.Simulation.Costs;

namespace Pipeline.Simulation.Tests;

public class CostCalibrationSpec
{
    private static readonly string Fixture = Path.Combine(FindRoot(), "tests", "fixtures", "calibration");
    private static readonly string KnownRun = Path.Combine(Fixture, "known-run");

    [Fact]
    public void The_fit_recovers_the_generator_and_learner_costs_a_run_was_made_with()
    {
        var fit = CostCalibration.FromRunFolder(KnownRun);

        // known-costs.conf: a group takes 300 ms + 4 ms per completion token; a step 400 ms + 0.8 ms per trained token.
        Assert.Equal("least squares", fit.Generation.Method);
        Assert.Equal(0.300, fit.Generation.Intercept, 3);
        Assert.Equal(0.004, fit.Generation.Slope, 5);
        Assert.Equal("least squares", fit.Update.Method);
        Assert.Equal(0.400, fit.Update.Intercept, 3);
        Assert.Equal(0.0008, fit.Update.Slope, 6);
        // timing_s/sync is the simulated delivery time, 50 ms + 100 MB at 1 GB/s, which a simulated learner does not wait for.
        Assert.Equal(0.150, fit.SyncS, 6);
        Assert.False(fit.SyncInStep);
        Assert.Equal(20, fit.PromptTokens);
        Assert.InRange(fit.CompletionMean, 27, 33);   // normal(30, 10), rounded and kept in [1, 48]
        Assert.InRange(fit.CompletionStd, 7, 11);
    }

    [Fact]
    public void The_fit_recovers_each_source_s_latency_invalid_share_and_mean_value()
    {
        var fit = CostCalibration.FromRunFolder(KnownRun);

        var execution = fit.Sources.Single(s => s.Name == "execution");
        Assert.Equal(0.050, execution.LatencyS, 6);
        Assert.InRange(execution.ErrorRate, 0.05, 0.15);   // error-rate 0.1 over ~560 rollouts
        Assert.InRange(execution.PCorrect, 0.22, 0.38);    // p-correct 0.3
        Assert.Null(execution.Workers);
        var rubric = fit.Sources.Single(s => s.Name == "rubric");
        Assert.Equal(0.010, rubric.LatencyS, 6);
        Assert.Equal(0, rubric.ErrorRate);
        Assert.InRange(rubric.PCorrect, 0.5, 0.7);
    }

    [Fact]
    public void The_fitted_cost_file_loads_as_a_cost_model_with_the_fitted_values()
    {
        var fit = CostCalibration.FromRunFolder(KnownRun);

        var model = CostLayers.Load(fit.ToHocon(), null, null);

        Assert.Equal(fit.Generation.Intercept, model.Generator.GroupOverhead, 5);
        Assert.Equal(fit.Generation.Slope, model.Generator.PerToken, 6);
        Assert.Equal(0.4, model.Learner.StepOverhead, 3);
        Assert.Equal(0.15, model.WeightSync.Seconds(model.Learner.WeightBytes), 6);
        Assert.Equal(20, model.Generator.PromptTokens);
        Assert.Equal(0.05, model.SourceFor("execution").Latency.Mean, 5);
    }

    [Fact]
    public void A_critic_gets_one_simulated_worker_per_group_its_real_concurrency_serves()
    {
        var steps = CriticRows();
        var config = ConfigurationFactory.ParseString(
            "pipeline { generation { group-size = 8, max-tokens = 48 }\n rewards { critic.concurrency = 16, sources.judge.type = critic } }");

        var fit = CostCalibration.Fit(steps, config, "test-run");

        var judge = fit.Sources.Single(s => s.Name == "judge");
        Assert.Equal(2, judge.Workers);
        Assert.Equal(0.75, judge.LatencyS, 6);
        Assert.Contains("kind = slow, workers = 2", fit.ToHocon());
        // A real learner publishes inside its step: the fitted step holds the 10 ms sync, and delivery adds nothing.
        Assert.True(fit.SyncInStep);
        var model = CostLayers.Load(fit.ToHocon(), null, null);
        Assert.Equal(fit.Update.Intercept + 0.01, model.Learner.StepOverhead, 6);
        Assert.Equal(0, model.WeightSync.Seconds(model.Learner.WeightBytes));
    }

    [Fact]
    public void A_run_without_the_per_group_prompt_length_is_refused_naming_the_metric()
    {
        var steps = CriticRows().Select(r => new MetricsReport(r.Step, r.Data.Where(kv => kv.Key != "prompt_length/mean").ToDictionary())).ToList();
        var config = ConfigurationFactory.ParseString("pipeline { generation { group-size = 8, max-tokens = 48 } }");

        var e = Assert.Throws<ConfigException>(() => CostCalibration.Fit(steps, config, "old-run"));

        Assert.Contains("prompt_length/mean", e.Message);
        Assert.Contains("old-run", e.Message);
    }

    [Fact]
    public void A_folder_that_is_not_a_run_is_refused_naming_it()
    {
        var e = Assert.Throws<ConfigException>(() => CostCalibration.FromRunFolder(Fixture));

        Assert.Contains("config.conf", e.Message);
    }

    [Fact]
    public void Lengths_cut_at_max_tokens_are_declared_with_a_mean_whose_clamped_draws_average_the_measured_one()
    {
        var mean = CostCalibration.UnclampedMean(target: 45, std: 6, max: 48);

        Assert.True(mean > 45, $"declared mean {mean}");
        var rng = new Random(3);
        var dist = new Distribution.Normal(mean, 6);
        var drawn = Enumerable.Range(0, 20000).Average(_ => Math.Clamp(Math.Round(dist.Sample(rng)), 1, 48));
        Assert.Equal(45, drawn, 0.3);
    }

    [Fact]
    public void A_fit_whose_x_never_varies_keeps_only_the_per_unit_cost()
    {
        var fit = LinearFit.Of([48, 48, 48], [0.96, 1.0, 1.04]);

        Assert.Equal("through the origin", fit.Method);
        Assert.Equal(0, fit.Intercept);
        Assert.Equal(1.0 / 48, fit.Slope, 9);
    }

    private static List<MetricsReport> CriticRows() =>
        Enumerable.Range(1, 6).Select(i => new MetricsReport(i, new Dictionary<string, double>
        {
            ["policy/version"] = i, ["rollouts/count"] = 64, ["timing_s/update"] = 0.5 + 0.001 * i, ["timing_s/sync"] = 0.01,
            ["timing_s/gen"] = 1 + 0.1 * i, ["timing_s/gen_total"] = 8 + 0.8 * i, ["response_length/mean"] = 20 + i, ["learner/samples"] = 64,
            ["actor/tokens"] = 64 * (20 + i), ["prompt_length/mean"] = 12, ["response/truncated_frac"] = 0,
            ["reward/judge/latency_ms"] = 750, ["reward/judge/invalid_frac"] = 0, ["reward/judge/mean"] = 0.5,
        })).ToList();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}
