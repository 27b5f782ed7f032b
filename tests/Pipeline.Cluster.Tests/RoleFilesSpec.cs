using Pipeline.Core.Configuration;

namespace Pipeline.Cluster.Tests;

/// <summary>hocon/roles/*.conf: one file per role, layered over cluster.conf by `pipeline node`, under --config and --set.</summary>
public sealed class RoleFilesSpec
{
    [Theory]
    [InlineData("learner", "pipeline.checkpoint.every-steps", "10", true)]
    [InlineData("buffer", "pipeline.timeouts.credit", "60s", true)]
    [InlineData("generator", "pipeline.generation.generators", "1", false)]  // states the default: scale by nodes
    [InlineData("annotator", "pipeline.rewards.slow-pool.workers", "8", true)]
    [InlineData("critic", "pipeline.rewards.slow-pool.workers", "32", true)]
    public void Each_role_file_loads_over_cluster_conf_and_sets_its_keys(string role, string key, string expected, bool differsFromDefault)
    {
        var hocon = RepoRoot.Combine("hocon");
        Assert.True(File.Exists(Path.Combine(hocon, "roles", role + ".conf")));
        var plain = PipelineSettings.Load(hocon, "cluster", null, []);
        var withRole = PipelineSettings.Load(hocon, "cluster", ["roles/" + role], null, []);

        Assert.Equal(expected, withRole.Hocon.GetString(key));
        if (differsFromDefault) Assert.NotEqual(plain.Hocon.GetString(key), withRole.Hocon.GetString(key));
    }

    [Fact]
    public void A_set_override_wins_over_a_role_file()
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", ["roles/learner"], null, ["checkpoint.every-steps=3"]);

        Assert.Equal(3, settings.Checkpoint.EverySteps);
    }
}
