using Pipeline.Core.Configuration;
using Pipeline.Simulation.Costs;
using Pipeline.Simulation.Sweep;

namespace Pipeline.Simulation.Tests;

public class SweepGridSpec
{
    [Fact]
    public void Two_sweep_options_make_every_combination_with_the_first_key_varying_slowest()
    {
        var axes = SweepGrid.Parse(["generation.generators=1,4", "costs.sources.critic.latency=500ms, 2s ,8s"]);

        var points = SweepGrid.Points(axes);

        Assert.Equal(6, points.Count);
        Assert.Equal([("generation.generators", "1"), ("costs.sources.critic.latency", "500ms")], points[0].Values);
        Assert.Equal([("generation.generators", "1"), ("costs.sources.critic.latency", "2s")], points[1].Values);
        Assert.Equal([("generation.generators", "4"), ("costs.sources.critic.latency", "8s")], points[5].Values);
        Assert.Equal(Enumerable.Range(1, 6), points.Select(p => p.Index));
    }

    [Fact]
    public void A_point_splits_into_pipeline_sets_and_cost_overrides()
    {
        var point = SweepGrid.Points(SweepGrid.Parse(["pipeline.grpo.max-staleness=0", "costs.sources.critic.latency=2s"]))[0];

        Assert.Equal(["grpo.max-staleness=0"], point.Sets);
        Assert.Equal("costs.sources.critic.latency = 2s\n", point.CostOverrides);
        Assert.Equal("001__max-staleness=0__latency=2s", point.FolderName);
    }

    [Fact]
    public void A_cost_override_of_a_point_reaches_the_cost_model()
    {
        var point = SweepGrid.Points(SweepGrid.Parse(["costs.sources.critic.latency=2s,4s"]))[1];

        var costs = CostLayers.Load(null, null, point.CostOverrides);

        Assert.Equal(4.0, costs.SourceFor("critic").Latency.Mean, 9);
    }

    [Fact]
    public void An_unknown_cost_key_in_a_point_is_refused_naming_it()
    {
        var point = SweepGrid.Points(SweepGrid.Parse(["costs.sources.critic.latncy=2s"]))[0];

        var e = Assert.Throws<ConfigException>(() => CostLayers.Load(null, null, point.CostOverrides));

        Assert.Contains("costs.sources.critic.latncy", e.Message);
    }

    [Theory]
    [InlineData("generation.generators", "key=v1,v2")]
    [InlineData("=1,2", "key=v1,v2")]
    [InlineData("generation.generators=1,,4", "an empty value")]
    [InlineData("generation.generators=1,4,1", "listed twice")]
    public void A_malformed_sweep_option_is_refused_naming_it(string option, string says)
    {
        var e = Assert.Throws<ConfigException>(() => SweepGrid.Parse([option]));

        Assert.Contains(option, e.Message);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void A_key_swept_twice_is_refused()
    {
        var e = Assert.Throws<ConfigException>(() => SweepGrid.Parse(["generation.generators=1", "pipeline.generation.generators=2"]));

        Assert.Contains("generation.generators is swept twice", e.Message);
    }

    [Fact]
    public void A_grid_over_the_bound_is_refused_before_anything_runs()
    {
        var many = string.Join(',', Enumerable.Range(1, 30));

        var e = Assert.Throws<ConfigException>(() => SweepGrid.Parse([$"generation.generators={many}", $"grpo.batch-groups={many}"]));

        Assert.Contains("900 points", e.Message);
    }
}
