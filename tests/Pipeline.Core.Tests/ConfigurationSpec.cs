using Pipeline.Core.Rewards;
using Pipeline.Core.Configuration;

namespace Pipeline.Core.Tests;

public class ConfigurationSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Built_in_defaults_load_on_their_own()
    {
        var s = PipelineSettings.From(new ConfigLayers());
        Assert.Equal("sql", s.Task.Name);
        Assert.Contains(s.RewardSources, r => r.Name == "execution" && r.Required);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Task.Sql.QueryTimeout);
    }

    [Fact]
    public void Later_layers_override_earlier_ones()
    {
        Write("base.conf", "pipeline.grpo.steps = 11");
        Write("local.conf", "pipeline.grpo.steps = 12\npipeline.seed = 3");
        var user = Write("user.conf", "pipeline { grpo { steps = 13 } }");
        var s = PipelineSettings.Load(_dir, "local", user, ["grpo.batch-groups=5"]);
        Assert.Equal(13, s.Grpo.Steps);
        Assert.Equal(3, s.Seed);
        Assert.Equal(5, s.Grpo.BatchGroups);
    }

    [Fact]
    public void LoRA_settings_are_read_off_by_default_and_all_linear_stands_as_one_string()
    {
        var defaults = PipelineSettings.From(new ConfigLayers());
        Assert.False(defaults.Policy.Lora.Enabled);
        Assert.Equal(["q_proj", "v_proj"], defaults.Policy.Lora.TargetModules);

        var user = Write("lora.conf", "pipeline.policy { source = hf, path = /m, lora { enabled = on, rank = 4, alpha = 8, dropout = 0.05, target-modules = all-linear } }");
        var s = PipelineSettings.Load(_dir, "local", user, []);
        Assert.Equal(new LoraSettings(true, 4, 8, 0.05, s.Policy.Lora.TargetModules), s.Policy.Lora);
        Assert.Equal(["all-linear"], s.Policy.Lora.TargetModules);
    }

    [Fact]
    public void The_same_configuration_read_twice_gives_equal_policy_settings()
    {
        var a = PipelineSettings.Load(_dir, "local", null, ["policy.lora.target-modules=[q_proj, k_proj]"]);
        var b = PipelineSettings.Load(_dir, "local", null, ["policy.lora.target-modules=[q_proj, k_proj]"]);
        Assert.Equal(a.Policy, b.Policy);
        Assert.Equal(a.Task, b.Task);
        Assert.NotEqual(a.Policy, PipelineSettings.Load(_dir, "local", null, ["policy.lora.target-modules=[q_proj]"]).Policy);
    }

    [Fact]
    public void LoRA_on_the_builtin_policy_is_refused_naming_the_key()
    {
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["policy.lora.enabled=on"]));
        Assert.Contains("pipeline.policy.lora.enabled", e.Message);
        Assert.Contains("source = hf", e.Message);
    }

    [Fact]
    public void A_typo_in_a_key_names_the_key_the_file_and_a_suggestion()
    {
        var user = Write("typo.conf", "pipeline.grpo.learning-rte = 0.1");
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", user, []));
        Assert.Contains("pipeline.grpo.learning-rte", e.Message);
        Assert.Contains("typo.conf", e.Message);
        Assert.Contains("pipeline.grpo.learning-rate", e.Message);
    }

    [Fact]
    public void A_wrong_type_names_the_key_and_the_file()
    {
        var user = Write("wrong.conf", "pipeline.grpo.steps = many");
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", user, []));
        Assert.Contains("pipeline.grpo.steps", e.Message);
        Assert.Contains("wrong.conf", e.Message);
        Assert.Contains("integer", e.Message);
    }

    [Fact]
    public void The_removed_ask_timeout_is_an_unknown_key()
    {
        // Nothing ever read pipeline.timeouts.ask; a config that still sets it is told so instead of being ignored.
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["timeouts.ask=30s"]));
        Assert.Contains("unknown key 'pipeline.timeouts.ask'", e.Message);
    }

    [Fact]
    public void A_run_snapshot_written_before_the_ask_timeout_was_retired_still_loads()
    {
        // Every run folder made before the key was removed has it in config.conf; --resume must still read that file.
        var run = Path.Combine(_dir, "old-run");
        Directory.CreateDirectory(run);
        var snapshot = Path.Combine(run, ConfigLayers.RunSnapshotFile);
        File.WriteAllText(snapshot, "pipeline { timeouts { ask = 30s, credit = 90s } }");
        var settings = PipelineSettings.Load(_dir, "local", snapshot, []);
        Assert.Equal(TimeSpan.FromSeconds(90), settings.Timeouts.Credit);

        var mine = Path.Combine(run, "mine.conf");
        File.WriteAllText(mine, "pipeline.timeouts.ask = 30s");
        Assert.Contains("unknown key 'pipeline.timeouts.ask'", Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", mine, [])).Message);
    }

    [Fact]
    public void A_bad_duration_names_the_key_and_the_override()
    {
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["timeouts.credit=soon"]));
        Assert.Contains("pipeline.timeouts.credit", e.Message);
        Assert.Contains("--set", e.Message);
        Assert.Contains("duration", e.Message);
    }

    [Fact]
    public void The_execution_match_settings_read_exact_numbers_no_silent_row_cap_and_one_instance_by_default()
    {
        var s = PipelineSettings.Load(_dir, "local", null, []).Task.Sql;
        Assert.Equal((0.0, 1_000_000, 1), (s.RelativeTolerance, s.MaxRows, s.Instances));
        var set = PipelineSettings.Load(_dir, "local", null,
            ["task.sql.relative-tolerance=1e-9", "task.sql.max-rows=50", "task.sql.instances=3"]).Task.Sql;
        Assert.Equal((1e-9, 50, 3), (set.RelativeTolerance, set.MaxRows, set.Instances));
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["task.sql.relative-tolerance=-0.1"]));
        Assert.Contains("relative-tolerance", e.Message);
    }

    [Fact]
    public void An_out_of_range_value_is_refused()
    {
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["generation.top-p=1.5"]));
        Assert.Contains("pipeline.generation.top-p", e.Message);
    }

    [Fact]
    public void The_sql_result_budget_defaults_to_8_MiB_and_refuses_less_than_64_KiB()
    {
        Assert.Equal(8L << 20, PipelineSettings.From(new ConfigLayers()).Task.Sql.MaxResultBytes);
        Assert.Equal(1_000_000, PipelineSettings.Load(_dir, "local", null, ["task.sql.max-result-bytes=1000000"]).Task.Sql.MaxResultBytes);
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["task.sql.max-result-bytes=1000"]));
        Assert.Contains("pipeline.task.sql.max-result-bytes", e.Message);
    }

    [Fact]
    public void Reward_sources_are_an_open_map_with_known_fields()
    {
        var s = PipelineSettings.Load(_dir, "local", null,
            ["rewards.sources.length={ type = my-length, weight = 0.5, required = off, deadline = 1s, normalizer = group-rank }", "rewards.use=[execution, length]"]);
        Assert.Equal(["execution", "length"], s.RewardSources.Select(r => r.Name));
        Assert.Contains(s.RewardSources, r => r.Name == "length" && r.Type == "my-length" && r.Weight == 0.5 && !r.Required
                                              && r.Normalizer == RewardNormalizer.GroupRank);

        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["rewards.sources.execution.wieght=1"]));
        Assert.Contains("wieght", e.Message);
    }

    [Fact]
    public void Every_declared_reward_source_is_checked_whether_in_use_or_not()
    {
        // similarity is declared by the defaults and not in rewards.use.
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["rewards.sources.similarity.deadline=soon"]));
        Assert.Contains("pipeline.rewards.sources.similarity.deadline", e.Message);
        Assert.Contains("--set rewards.sources.similarity.deadline=soon", e.Message);

        var user = Write("judges.conf", "pipeline.rewards.sources.spare { type = critic, weight = heavy, required = off, deadline = 5s }");
        e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", user, []));
        Assert.Contains("pipeline.rewards.sources.spare.weight", e.Message);
        Assert.Contains("judges.conf", e.Message);
    }

    [Fact]
    public void The_short_form_rewards_list_chooses_the_sources_in_use_and_names_an_undeclared_one()
    {
        var s = PipelineSettings.Load(_dir, "local", null, ["rewards=execution,similarity"]);
        Assert.Equal(["execution", "similarity"], s.RewardSources.Select(r => r.Name));
        Assert.Equal("similarity", s.RewardSources[1].Type);

        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["rewards=execution,simliarity"]));
        Assert.Contains("'simliarity'", e.Message);
        Assert.Contains("--set", e.Message);
    }

    [Fact]
    public void Composition_settings_are_read_and_a_per_source_normalizer_is_refused_when_the_total_is_normalised()
    {
        var s = PipelineSettings.Load(_dir, "local", null,
            ["rewards.aggregation=sum_then_normalize", "rewards.normalizer=running", "rewards.sources.rubric.transform=log-sigmoid", "rewards.sources.rubric.transform-offset=0.5"]);
        Assert.Equal(RewardAggregation.SumThenNormalize, s.Rewards.Aggregation);
        Assert.Equal(RewardNormalizer.Running, s.Rewards.TotalNormalizer);
        var rubric = s.RewardSources.Single(r => r.Name == "rubric");
        Assert.Equal(RewardTransform.LogSigmoid, rubric.Transform);
        Assert.Equal(0.5, rubric.TransformOffset);

        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null,
            ["rewards.aggregation=sum_then_normalize", "rewards.sources.execution.normalizer=running"]));
        Assert.Contains("pipeline.rewards.sources.execution.normalizer", e.Message);
        e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["rewards.sources.execution.transform=sigmoid"]));
        Assert.Contains("log-sigmoid", e.Message);
    }

    [Fact]
    public void A_quoted_url_survives_set_and_the_type_blocks_reach_the_sources()
    {
        var s = PipelineSettings.Load(_dir, "local", null,
            ["rewards.critic.base-url=\"http://127.0.0.1:11434/v1\"", "rewards.critic.model=\"qwen2.5:7b-instruct\"", "rewards.similarity.lambda=0.25"]);
        Assert.Equal("http://127.0.0.1:11434/v1", s.Rewards.Block.GetString("critic.base-url"));
        Assert.Equal("qwen2.5:7b-instruct", s.Rewards.Block.GetString("critic.model"));
        Assert.Equal(0.25, s.Rewards.Block.GetDouble("similarity.lambda"));

        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, ["rewards.critic.base-ulr=\"http://x/v1\""]));
        Assert.Contains("pipeline.rewards.critic.base-url", e.Message); // the nearest known key
    }

    [Fact]
    public void An_unparseable_file_is_reported_with_its_path()
    {
        var user = Write("broken.conf", "pipeline { grpo { steps = \"3 }");
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", user, []));
        Assert.Contains("broken.conf", e.Message);
    }

    [Fact]
    public void A_missing_user_file_is_an_error()
    {
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", Path.Combine(_dir, "nope.conf"), []));
        Assert.Contains("nope.conf", e.Message);
    }

    [Fact]
    public void A_key_outside_pipeline_and_akka_is_refused()
    {
        var user = Write("stray.conf", "grpo.steps = 3");
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", user, []));
        Assert.Contains("'grpo.steps'", e.Message);
        Assert.Contains("stray.conf", e.Message);
    }

    [Fact]
    public void Akka_keys_pass_through_unchecked()
    {
        var s = PipelineSettings.Load(_dir, "local", null, ["akka.loglevel=DEBUG"]);
        Assert.Equal("DEBUG", s.Hocon.GetString("akka.loglevel"));
    }
}
