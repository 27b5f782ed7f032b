using System.Globalization;

namespace Pipeline.Cli.Tests;

/// <summary><c>pipeline experiment table</c> and <c>experiment async</c> as the real program, on the smoke config cut further.</summary>
[Trait("Category", "Long")]
public class ExperimentCommandsEndToEndSpec : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-experiments-").FullName;

    public void Dispose() => Directory.Delete(_runs, recursive: true);

    private (string StdOut, string Folder) Run(string experiment, params string[] extra)
    {
        string[] args = ["experiment", experiment, "--hocon-dir", RepoPaths.Hocon, "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            "--set", $"run-dir=\"{_runs}\"", "--set", "warm-start.max-epochs=1", "--set", "eval.limit=20", "--steps", "2", .. extra];
        var (code, stdout, stderr) = CliProcess.Run(_runs, TimeSpan.FromSeconds(400), args);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var folder = Assert.Single(Directory.GetDirectories(_runs, $"experiment-{experiment}__*"));
        return (stdout, folder);
    }

    /// <summary>The Markdown table's body rows (after the header separator) of the first table whose header starts with <paramref name="firstColumn"/>.</summary>
    private static List<string[]> TableRows(string markdown, string firstColumn)
        => [.. markdown.Split('\n').SkipWhile(l => !l.StartsWith($"| {firstColumn} |", StringComparison.Ordinal)).Skip(2).TakeWhile(l => l.StartsWith('|'))
            .Select(l => l.Trim('|').Split(" | ").Select(c => c.Trim()).ToArray())];

    private static double Leading(string cell)
    {
        var number = new string(cell.Trim().TakeWhile(c => char.IsDigit(c) || c == '.').ToArray());
        Assert.True(double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var v), $"'{cell}' does not start with a number");
        return v;
    }

    private static void AssertPng(string path)
    {
        Assert.True(File.Exists(path), $"{path} missing");
        var head = File.ReadAllBytes(path).Take(4).ToArray();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, head);
    }

    [Fact]
    public void Experiment_table_writes_every_ablation_row_with_finite_figures_a_markdown_record_and_a_plot()
    {
        var (stdout, folder) = Run("table", "--seeds", "1", "--critic-latency-ms", "5");

        Assert.Contains("own warm-start", stdout);
        Assert.Contains("SIMULATED critic at 5 ms", stdout);
        Assert.Contains("total run time:", stdout);
        var md = File.ReadAllText(Path.Combine(folder, "experiment-table.md"));
        Assert.Contains("pipeline experiment table", md);
        Assert.Contains("**Total run time:**", md);
        var rows = TableRows(md, "row");
        Assert.Equal(ExperimentTableCommand.Rows.Select(r => r.Name), rows.Select(r => r[0]));
        foreach (var row in rows)
        {
            Assert.DoesNotContain(row[..^1], c => c.Contains("NaN", StringComparison.Ordinal) || c.Contains("n/a", StringComparison.Ordinal));
            // exec all, exact all: percentages; wall s: positive.
            Assert.InRange(Leading(row[^4]), 0, 100);
            Assert.InRange(Leading(row[^3]), 0, 100);
            Assert.True(Leading(row[^2]) > 0, $"{row[0]}: wall s {row[^2]}");
        }
        // The GRPO rows measured throughput; the warm-start row has none and says so.
        Assert.Equal("n/a", rows[0][^1]);
        Assert.All(rows.Skip(1), r => Assert.True(Leading(r[^1]) > 0, $"{r[0]}: rollouts/s {r[^1]}"));
        AssertPng(Path.Combine(folder, "heldout_accuracy.png"));
    }

    [Fact]
    public void Experiment_async_writes_a_sync_and_async_row_per_critic_latency_with_ratios_and_the_verdict()
    {
        var (stdout, folder) = Run("async", "--slowdowns", "1,10", "--eval-every", "1");

        Assert.Contains("generation time (critic-free pipeline):", stdout);
        Assert.Contains("SIMULATED critic", stdout);
        Assert.Contains("At 10x critic latency", stdout);
        var md = File.ReadAllText(Path.Combine(folder, "experiment-async.md"));
        var rows = TableRows(md, "critic");
        Assert.Equal(["1x", "10x"], rows.Select(r => r[0]));
        foreach (var row in rows)
        {
            Assert.True(Leading(row[1]) > 0, $"call ms {row[1]}");
            // "sync / async (ratio x)" for rollouts/s and GRPO wall time: every figure finite and positive.
            foreach (var cell in new[] { row[2], row[3] })
            {
                var figures = cell.Replace("(", "/", StringComparison.Ordinal).Replace("x)", "", StringComparison.Ordinal).Split('/').Select(Leading).ToList();
                Assert.Equal(3, figures.Count);
                Assert.All(figures, f => Assert.True(f > 0 && double.IsFinite(f), $"'{cell}'"));
            }
            Assert.Matches(@"^(\d+\.\d\dx|not reached by .+|n/a: target <= warm-start)$", row[^1]);
        }
        var profile = TableRows(md, "run");
        Assert.Equal(5, profile.Count);
        AssertPng(Path.Combine(folder, "accuracy_time_1x.png"));
        AssertPng(Path.Combine(folder, "accuracy_time_10x.png"));
    }
}
