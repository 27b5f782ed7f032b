using Pipeline.Core.Protocol;
using Pipeline.Runtime.Metrics;

namespace Pipeline.Runtime.Tests;

public class CurvePlotsSpec
{
    private static MetricsReport Report(long step, params (string Key, double Value)[] data)
        => new(step, data.ToDictionary(d => d.Key, d => d.Value));

    [Fact]
    public void Every_reward_source_gets_its_own_curve_and_invalid_fraction()
    {
        var reports = new[]
        {
            Report(1, ("reward/mean", 0.5), ("reward/execution/mean", 0.4), ("reward/execution/invalid_frac", 0.0), ("reward/invalid_frac", 0.1)),
            Report(2, ("reward/critic/mean", 0.7), ("reward/critic/invalid_frac", 0.3), ("reward/similarity/mean", 0.2)),
        };

        Assert.Equal(["reward/critic/mean", "reward/execution/mean", "reward/similarity/mean"], CurvePlots.Expand("reward/*/mean", reports));
        Assert.Equal(["reward/critic/invalid_frac", "reward/execution/invalid_frac"], CurvePlots.Expand("reward/*/invalid_frac", reports));
        Assert.Equal(["reward/mean"], CurvePlots.Expand("reward/mean", reports));

        var dir = Directory.CreateTempSubdirectory("plots-").FullName;
        try
        {
            var written = CurvePlots.Write(dir, reports).Select(Path.GetFileName).ToList();
            Assert.Contains("reward.png", written);
            Assert.Contains("reward_invalid.png", written);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_smoothed_curve_is_a_debiased_exponential_moving_average()
    {
        // m1 = 0.1 * 1 = 0.1, / (1 - 0.9) = 1; m2 = 0.9 * 0.1 + 0.1 * 3 = 0.39, / (1 - 0.81) = 2.0526...
        var ema = CurvePlots.Ema([1.0, 3.0, 3.0], 0.9);
        Assert.Equal(1.0, ema[0], 12);
        Assert.Equal(0.39 / 0.19, ema[1], 12);
        Assert.Equal((0.9 * 0.39 + 0.3) / (1 - 0.729), ema[2], 12);
        Assert.Equal([5.0, 5.0, 5.0], CurvePlots.Ema([5.0, 5.0, 5.0]).Select(v => Math.Round(v, 12)));
    }
}
