using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Runtime.Tests;

/// <summary>The blocks the reward sources' factories read are checked at start-up, in use or not, naming the key and its layer.</summary>
public class SettingsValidationSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-validation-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PipelineSettings Load(params string[] overrides) => PipelineSettings.Load(_dir, "local", null, overrides);

    [Theory]
    [InlineData("rewards.critic.breaker-sampling-window=10ms", "pipeline.rewards.critic.breaker-sampling-window")]
    [InlineData("rewards.critic.concurrency=lots", "pipeline.rewards.critic.concurrency")]
    [InlineData("rewards.similarity.pooling=max", "pipeline.rewards.similarity.pooling")]
    [InlineData("rewards.similarity.max-length=1", "pipeline.rewards.similarity.max-length")]
    [InlineData("rewards.rubric.judge=gpt", "pipeline.rewards.rubric.judge")]
    [InlineData("rewards.rubric.file=\"no/such/rubric.conf\"", "pipeline.rewards.rubric.file")]
    [InlineData("oni.reward-model.char-ngram-max=40", "pipeline.oni.reward-model.char-ngram-max")]
    [InlineData("oni.reward-model.variant=regression", "pipeline.oni.reward-model.variant")]
    public void A_bad_value_in_a_block_no_source_in_use_reads_is_refused_naming_the_key_and_the_set(string assignment, string key)
    {
        // The defaults use execution and rubric only, with ONI off: before, none of these blocks was read at all.
        var settings = Load(assignment);
        var e = Assert.Throws<ConfigException>(() => SettingsValidation.Check(settings));
        Assert.Contains(key, e.Message);
        Assert.Contains("--set " + assignment, e.Message);
    }

    [Fact]
    public void A_value_from_a_file_names_the_file()
    {
        var file = Path.Combine(_dir, "judge.conf");
        File.WriteAllText(file, "pipeline.rewards.critic { retry-base-delay = 2s, retry-max-delay = 1s }");
        var e = Assert.Throws<ConfigException>(() => SettingsValidation.Check(PipelineSettings.Load(_dir, "local", file, [])));
        Assert.Contains("pipeline.rewards.critic.retry-max-delay = '1s' in " + file, e.Message);
    }

    [Fact]
    public void The_built_in_defaults_pass_the_check()
    {
        var settings = Load();
        Assert.Same(settings, SettingsValidation.Check(settings));
    }

    [Fact]
    public async Task A_local_run_with_a_bad_critic_option_creates_no_run_folder()
    {
        var settings = Load("rewards=execution,critic", "rewards.sources.critic.required=on", "rewards.critic.timeout=0s");
        var runDir = Path.Combine(_dir, "runs", "bad-critic");

        var e = await Assert.ThrowsAsync<ConfigException>(() => LocalRun.RunAsync(settings, runDir, false, null, null, CancellationToken.None));

        Assert.Contains("pipeline.rewards.critic.timeout", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "runs")), "the run folder was created before the critic's settings were checked");
    }
}
