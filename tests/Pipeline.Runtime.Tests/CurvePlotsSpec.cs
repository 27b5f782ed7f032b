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
}
