using System.Text.Json;

namespace Pipeline.Cli.Tests;

/// <summary>The spider task as a user runs it: the real binary, a Spider-format folder and --set flags only.</summary>
public sealed class SpiderEndToEndSpec : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(240);
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-spider-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Runs => Path.Combine(_dir, "runs");

    private static string Json(string s) => JsonSerializer.Serialize(s);

    [Fact]
    public void The_spider_mini_sample_trains_and_evaluates_per_database_hardness_and_language_with_one_command()
    {
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--config", "samples/spider-mini/spider-mini.conf",
            "--set", $"run-dir={Json(Runs)}", "--set", "grpo.steps=2", "--set", "warm-start.max-epochs=2", "--set", "metrics.plots=off");

        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains("task 'spider': 80 demonstrations, 80 RL prompts, 70 held-out", stdout);
        Assert.Contains("rewards: execution (execution, fast, w=1, required)", stdout);
        Assert.Contains("step 2/2", stdout);
        Assert.Contains("db:shop", stdout);
        using var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory.GetDirectories(Runs).Single(), "eval_final.json")));
        var slices = eval.RootElement.GetProperty("Slices");
        int Count(string slice) => slices.GetProperty(slice).GetProperty("Count").GetInt32();
        Assert.Equal((10, 10, 50), (Count("db:library"), Count("db:school"), Count("db:shop")));
        Assert.Equal(70, new[] { "easy", "medium", "hard", "extra" }.Sum(level => Count("hardness:" + level)));
        Assert.Equal((35, 35), (Count("lang:en"), Count("lang:de")));
    }

    [Theory]
    [InlineData("malformed-json")]
    [InlineData("unknown-db")]
    public void Bad_input_exits_2_naming_file_and_line_before_any_run_folder_exists(string fault)
    {
        var folder = CopySample();
        var dev = Path.Combine(folder, "dev.json");
        var text = File.ReadAllText(dev);
        string expected;
        if (fault == "malformed-json")
        {
            File.WriteAllText(dev, text.Replace("\"db_id\": \"shop\"", "\"db_id\" \"shop\"", StringComparison.Ordinal));
            expected = $"{dev}:";
        }
        else
        {
            File.WriteAllText(dev, text.Replace("\"db_id\": \"shop\"", "\"db_id\": \"shopp\"", StringComparison.Ordinal));
            expected = "db_id 'shopp' is not in";
        }

        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--config", "samples/spider-mini/spider-mini.conf",
            "--set", $"task.spider.path={Json(folder)}", "--set", $"run-dir={Json(Runs)}");

        Assert.True(code == 2, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains(expected, stderr);
        Assert.Matches(@"dev\.json:\d+", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(Runs));
    }

    [Fact]
    public void A_context_too_short_for_the_schema_prompts_exits_2_at_start_naming_the_key_and_the_lengths()
    {
        // The default context (160) holds no schema prompt of the sample: a clean start-up error, not a crash mid-run.
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--config", "samples/spider-mini/spider-mini.conf",
            "--set", $"run-dir={Json(Runs)}", "--set", "policy.context=160");

        Assert.True(code == 2, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains("pipeline.policy.context = 160: only 0 of 80 demonstrations fit", stderr);
        Assert.Contains("the longest demonstration is", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Naming_the_task_without_a_folder_exits_2_saying_which_key_to_set()
    {
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--set", "task.name=spider", "--set", $"run-dir={Json(Runs)}");

        Assert.True(code == 2, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains("pipeline.task.spider.path = ''", stderr);
        Assert.False(Directory.Exists(Runs));
    }

    private string CopySample()
    {
        var sample = Path.Combine(RepoPaths.Root, "samples", "spider-mini");
        var folder = Path.Combine(_dir, "spider");
        foreach (var file in Directory.GetFiles(sample, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(folder, Path.GetRelativePath(sample, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return folder;
    }
}
