namespace Pipeline.Cli.Tests;

public class SimulateSweepSpec
{
    [Fact]
    public void A_sweep_over_an_unknown_pipeline_key_exits_with_code_2_naming_it_and_simulates_nothing()
    {
        var runs = Directory.CreateTempSubdirectory("pipeline-sweep-").FullName;
        try
        {
            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "simulate", "--duration", "30s",
                "--set", "run-dir=" + runs, "--sweep", "generation.generatorz=1,2");
            Assert.True(code == 2, $"exit {code}\n{err}");
            Assert.Contains("generation.generatorz", err);
            Assert.Empty(Directory.EnumerateFileSystemEntries(runs));
        }
        finally
        {
            Directory.Delete(runs, true);
        }
    }

    [Fact]
    public void A_sweep_over_an_unknown_cost_key_exits_with_code_2_naming_it()
    {
        var runs = Directory.CreateTempSubdirectory("pipeline-sweep-").FullName;
        try
        {
            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "simulate", "--duration", "30s",
                "--set", "run-dir=" + runs, "--sweep", "generation.generators=1,2", "--sweep", "costs.generator.per-tokn=1ms,2ms");
            Assert.True(code == 2, $"exit {code}\n{err}");
            Assert.Contains("costs.generator.per-tokn", err);
            Assert.Empty(Directory.EnumerateFileSystemEntries(runs));
        }
        finally
        {
            Directory.Delete(runs, true);
        }
    }

    [Fact]
    public void A_sweep_with_compare_to_exits_with_code_2_before_simulating()
    {
        var runs = Directory.CreateTempSubdirectory("pipeline-sweep-").FullName;
        try
        {
            var known = Path.Combine(RepoPaths.Root, "tests", "fixtures", "calibration", "known-run");
            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "simulate", "--duration", "30s",
                "--set", "run-dir=" + runs, "--sweep", "generation.generators=1,2", "--compare-to", known);
            Assert.True(code == 2, $"exit {code}\n{err}");
            Assert.Contains("--compare-to", err);
            Assert.Empty(Directory.EnumerateFileSystemEntries(runs));
        }
        finally
        {
            Directory.Delete(runs, true);
        }
    }

    [Fact]
    public void A_sweep_writes_one_table_row_and_one_run_folder_per_point_and_one_plot()
    {
        var runs = Directory.CreateTempSubdirectory("pipeline-sweep-").FullName;
        try
        {
            var (code, output, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(120), "simulate", "--duration", "60s",
                "--set", "run-dir=" + runs, "--set", "run-name=s", "--set", "metrics.plots=off",
                "--sweep", "generation.generators=1,2", "--sweep", "costs.generator.per-token=5ms,50ms");
            Assert.True(code == 0, $"exit {code}\n{output}\n{err}");
            var root = Path.Combine(runs, "s");
            var table = File.ReadAllLines(Path.Combine(root, "sweep.md"));
            Assert.Equal(2 + 4, table.Length);  // header, rule, a row per point
            Assert.StartsWith("| generation.generators | costs.generator.per-token | rollouts/s", table[0]);
            Assert.StartsWith("| 2 | 50ms |", table[5]);
            Assert.True(new FileInfo(Path.Combine(root, "sweep.png")).Length > 0);
            Assert.Equal(4, Directory.GetDirectories(Path.Combine(root, "points")).Length);
            Assert.Contains("costs.generator.per-token = 50ms", File.ReadAllText(Path.Combine(root, "points", "004__generators=2__per-token=50ms", "costs.conf")));
            // Ten times the per-token generation cost must cost the generator-bound 1-generator point throughput.
            var rate = (string line) => double.Parse(line.Split('|', StringSplitOptions.TrimEntries)[3], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(rate(table[3]) < rate(table[2]), $"{table[2]}\n{table[3]}");
        }
        finally
        {
            Directory.Delete(runs, true);
        }
    }
}
