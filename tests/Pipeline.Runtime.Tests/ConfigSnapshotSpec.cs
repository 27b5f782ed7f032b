using Pipeline.Core.Configuration;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Runtime.Tests;

public class ConfigSnapshotSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("snapshot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_run_snapshot_reloads_to_the_same_settings_lists_and_urls_included()
    {
        var original = PipelineSettings.Load(_dir, "local", null,
            ["rewards=execution,similarity,intrinsic", "oni.enabled=on", "rewards.critic.base-url=\"http://127.0.0.1:9/v1\"",
             "rewards.sources.similarity.normalizer=group-rank", "grpo.steps=7"]);
        var file = Path.Combine(_dir, "config.conf");
        File.WriteAllText(file, LocalRun.ConfigSnapshot(original));

        var reloaded = PipelineSettings.Load(_dir, "local", file, []);

        Assert.Equal(original.RewardSources, reloaded.RewardSources);
        Assert.Equal("http://127.0.0.1:9/v1", reloaded.Rewards.Block.GetString("critic.base-url"));
        Assert.True(reloaded.Oni.Enabled);
        Assert.Equal(7, reloaded.Grpo.Steps);
        Assert.Equal(original.Oni with { RewardModel = reloaded.Oni.RewardModel }, reloaded.Oni);
    }
}
