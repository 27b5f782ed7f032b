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
    public void Help_lists_the_commands()
    {
        var (code, output, _) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "--help");
        Assert.Equal(0, code);
        Assert.Contains("train", output);
        Assert.Contains("eval", output);
    }
}
