using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Simulation.Costs;

namespace Pipeline.Simulation.Tests;

/// <summary>The simulation placement end to end: the real buffer, prompts, annotation stages and generators in virtual time.</summary>
public sealed class SimulationSpec : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "sim-spec-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static PipelineSettings Settings(params string[] overrides)
        => PipelineSettings.From(overrides.Aggregate(new ConfigLayers(), (l, o) => l.AddOverride(o)));

    private static CostModel Costs(string hocon)
        => CostModel.From(ConfigurationFactory.ParseString(hocon).WithFallback(ConfigurationFactory.ParseString(CostModel.DefaultText())), ".");

    private SimulationSummary Run(PipelineSettings s, CostModel costs, TimeSpan duration, string name)
        => Simulation.Run(s, costs, duration, Path.Combine(_root, name), logLevel: "ERROR");

    [Fact]
    public void One_generator_and_one_annotator_with_constant_costs_train_exactly_the_hand_computed_groups()
    {
        // Generation is the bottleneck: a group of 4 x 10 tokens takes 1 s + 4 * 10 * 0.225 s = 10 s; scoring takes 1 s and a
        // step (1 group) 0.5 s + 4 * (8 + 10) * 0.01 s = 1.22 s. With one credit of lookahead the generator never idles, so
        // group k leaves it at 10k s, is scored at 10k + 1 s and trained by 10k + 2.22 s: in 3600 s, k = 1..359 are trained
        // (the 360th is scored at 3601 s). 359 groups * 4 rollouts / 3600 s.
        var s = Settings("generation.generators=1", "generation.group-size=4", "generation.max-tokens=48", "grpo.batch-groups=1",
            "grpo.max-staleness=4", "rewards.use=[execution]", "metrics.tensorboard=off", "metrics.plots=off");
        var costs = Costs("""
            costs {
              generator { group-overhead = 1s, per-token = 225ms, completion-tokens = 10, prompt-tokens = 8 }
              sources.execution { kind = fast, latency = 1s, p-correct = 0.5 }
              learner { step-overhead = 500ms, per-token = 10ms }
              weight-sync { overhead = 0, bytes-per-second = 1e18 }
            }
            """);
        var summary = Run(s, costs, TimeSpan.FromHours(1), "closed-form");
        Assert.Null(summary.Failure);
        Assert.Equal(0, summary.ForeignPosts);
        Assert.Equal(359, summary.Steps);
        Assert.Equal(359 * 4, summary.RolloutsTrained);
        Assert.Equal(359 * 4 / 3600.0, summary.RolloutsPerS);
        Assert.Equal(361, summary.GroupsGenerated);  // started at 0, 10, ..., 3600 s
        Assert.Equal(1.0, summary.GeneratorUtilisation, 9);
        Assert.Equal(359 * 1.22 / 3600, summary.LearnerUtilisation, 9);
        // Group k > 1 starts at 10(k-1) s with the weights of step k-2 (step k-1 ends at 10(k-1) + 2.22 s) and is trained at version k-1.
        Assert.Equal(new SortedDictionary<long, long> { [0] = 1, [1] = 358 }, summary.Staleness);
        Assert.Equal(1.0, summary.Coverage["execution"]);
    }

    [Fact]
    public void Two_simulations_with_the_same_seed_give_identical_summaries()
    {
        var s = Settings("seed=5", "generation.generators=6", "grpo.batch-groups=4", "rewards.use=[execution,critic]",
            "metrics.tensorboard=off", "metrics.plots=off");
        var costs = Costs("""
            costs {
              placement.annotators = 2
              generator.completion-tokens { distribution = lognormal, median = 24, sigma = 0.5 }
              sources.critic { workers = 2, queue = 4, latency { distribution = lognormal, median = 2s, sigma = 0.8 } }
              node-loss = [ { at = 2m, generator = 1, restart-after = 30s } ]
            }
            """);
        var a = Run(s, costs, TimeSpan.FromMinutes(5), "a");
        var b = Run(s, costs, TimeSpan.FromMinutes(5), "b");
        Assert.Equal(0, a.ForeignPosts);
        Assert.True(a.Steps > 10, $"only {a.Steps} steps");
        Assert.True(a.Drops["source/critic/rate_limited"] > 0, "the critic's queue never filled: the case checks too little");
        Assert.Equal(a.ToJson(), b.ToJson());
        Assert.Equal(File.ReadAllText(Path.Combine(_root, "a", "metrics.jsonl")), File.ReadAllText(Path.Combine(_root, "b", "metrics.jsonl")));

        var other = Run(Settings("seed=6", "generation.generators=6", "grpo.batch-groups=4", "rewards.use=[execution,critic]",
            "metrics.tensorboard=off", "metrics.plots=off"), costs, TimeSpan.FromMinutes(5), "c");
        Assert.NotEqual(a.ToJson(), other.ToJson());
    }
}

/// <summary>Bad cost files are refused by name, before anything runs.</summary>
public class CostModelSpec
{
    private static CostModel Load(string hocon)
    {
        var file = Path.Combine(Path.GetTempPath(), "costs-" + Guid.NewGuid().ToString("N") + ".conf");
        File.WriteAllText(file, hocon);
        try { return CostModel.Load(file); }
        finally { File.Delete(file); }
    }

    [Theory]
    [InlineData("costs.sources.default.latency { distribution = weibull }", "costs.sources.default.latency.distribution")]
    [InlineData("costs.sources.default.latency = -2s", "costs.sources.default.latency")]
    [InlineData("costs.sources.critic.latency { distribution = empirical, file = \"no-such-file.txt\" }", "costs.sources.critic.latency.file")]
    [InlineData("costs.generator.per-tokn = 1s", "costs.generator.per-tokn")]
    [InlineData("costs.sources.critic.error-rate = 1.5", "costs.sources.critic.error-rate")]
    public void A_bad_cost_file_is_refused_naming_the_key(string hocon, string key)
    {
        var e = Assert.Throws<ConfigException>(() => Load(hocon));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void An_empirical_latency_file_is_read_relative_to_the_cost_file()
    {
        var dir = Directory.CreateTempSubdirectory("costs-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "lat.txt"), "0.5\n# measured\n1.5 # slow one\n");
            var file = Path.Combine(dir.FullName, "c.conf");
            File.WriteAllText(file, "costs.sources.critic.latency { distribution = empirical, file = \"lat.txt\" }");
            var latency = Assert.IsType<Distribution.Empirical>(CostModel.Load(file).SourceFor("critic").Latency);
            Assert.Equal([0.5, 1.5], latency.Values);
        }
        finally { dir.Delete(recursive: true); }
    }
}
