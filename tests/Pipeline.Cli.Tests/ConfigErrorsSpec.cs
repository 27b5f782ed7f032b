namespace Pipeline.Cli.Tests;

public class ConfigErrorsSpec
{
    [Fact]
    public void A_typo_in_a_config_key_exits_with_code_2_and_names_the_key()
    {
        var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "train", "--set", "grpo.stepz=3");
        Assert.Equal(2, code);
        Assert.Contains("pipeline.grpo.stepz", err);
        Assert.Contains("did you mean 'pipeline.grpo.steps'", err);
    }

    [Fact]
    public void A_typo_in_a_config_file_names_the_key_and_the_file()
    {
        var dir = Directory.CreateTempSubdirectory("pipeline-cli-").FullName;
        try
        {
            var file = Path.Combine(dir, "mine.conf");
            File.WriteAllText(file, "pipeline { generation { temprature = 0.7 } }");
            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "train", "--config", file);
            Assert.Equal(2, code);
            Assert.Contains("pipeline.generation.temprature", err);
            Assert.Contains("mine.conf", err);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_bad_duration_exits_with_code_2()
    {
        var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "train", "--set", "task.sql.query-timeout=fast");
        Assert.Equal(2, code);
        Assert.Contains("pipeline.task.sql.query-timeout", err);
    }

    [Fact]
    public void A_bad_duration_on_a_reward_source_not_in_use_exits_with_code_2_and_creates_no_run_folder()
    {
        var runs = Directory.CreateTempSubdirectory("pipeline-cli-").FullName;
        try
        {
            // similarity is declared by the defaults but not in rewards.use (execution, rubric).
            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "train", "--set", "run-dir=" + runs,
                "--set", "rewards.sources.similarity.deadline=soon");
            Assert.True(code == 2, $"exit {code}\n{err}");
            Assert.Contains("pipeline.rewards.sources.similarity.deadline", err);
            Assert.Contains("--set rewards.sources.similarity.deadline=soon", err);
            Assert.Empty(Directory.EnumerateFileSystemEntries(runs));
        }
        finally
        {
            Directory.Delete(runs, true);
        }
    }

    [Theory]
    [InlineData("file", "timeout = fast", "pipeline.rewards.critic.timeout", "duration")]
    [InlineData("file", "max-retries = 9", "pipeline.rewards.critic.max-retries", "within [0, 3]")]
    [InlineData("set", "base-url = \"ftp://judge/v1\"", "pipeline.rewards.critic.base-url", "http(s) URL")]
    public void A_bad_critic_option_exits_with_code_2_naming_its_key_and_source_before_any_run_folder_exists(
        string where, string assignment, string key, string rule)
    {
        var dir = Directory.CreateTempSubdirectory("pipeline-cli-").FullName;
        try
        {
            var runs = Path.Combine(dir, "runs");
            var file = Path.Combine(dir, "judge.conf");
            // The critic takes part and is required: the case where its options used to be read only once the run had started.
            File.WriteAllText(file, where == "file"
                ? $"pipeline.rewards.critic {{ {assignment} }}"
                : "pipeline.rewards.critic.model = judge");
            string[] args = ["train", "--config", file, "--set", "run-dir=" + runs, "--set", "rewards=execution,critic",
                "--set", "rewards.sources.critic.required=on"];
            var set = "rewards.critic." + assignment.Replace(" = ", "=", StringComparison.Ordinal);
            if (where == "set") args = [.. args, "--set", set];

            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), args);

            Assert.True(code == 2, $"exit {code}\n{err}");
            Assert.Contains(key, err);
            Assert.Contains(rule, err);
            Assert.Contains(where == "file" ? "judge.conf" : "--set " + set, err);
            Assert.False(Directory.Exists(runs), "a run folder was created before the settings were checked");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("nosuchcommand")]
    [InlineData("train", "--nosuchoption")]
    public void An_unknown_command_or_option_exits_with_code_2(params string[] args)
    {
        var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), args);
        Assert.True(code == 2, $"exit {code}\n{err}");
        Assert.Contains(args[^1], err);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var (code, output, _) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "--help");
        Assert.Equal(0, code);
        Assert.Contains("train", output);
        Assert.Contains("eval", output);
    }
}
