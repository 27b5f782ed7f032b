namespace Pipeline.Cli.Tests;

public class ExperimentMarkdownSpec
{
    [Fact]
    public void The_record_holds_the_command_machine_date_total_time_and_the_table()
    {
        var md = new ExperimentMarkdown("Ablation")
            .Facts("pipeline experiment table --seeds 3", "2 cores", new DateTimeOffset(2026, 12, 8, 1, 2, 0, TimeSpan.Zero), TimeSpan.FromSeconds(125))
            .Table(["row", "exec all"], [["warm-start only", "19.3 % [18.0–20.5]"], ["GRPO: execution", "20.0 %"]])
            .ToString();

        var lines = md.Split('\n');
        Assert.Equal("## Ablation", lines[0]);
        Assert.Contains("pipeline experiment table --seeds 3", lines);
        Assert.Contains("**Machine:** 2 cores. **Date:** 2026-12-08 01:02 UTC. **Total run time:** 2 min 5 s.", lines);
        var table = lines.SkipWhile(l => !l.StartsWith("| row", StringComparison.Ordinal)).TakeWhile(l => l.StartsWith('|')).ToList();
        Assert.Equal(["| row | exec all |", "|---|---|", "| warm-start only | 19.3 % [18.0–20.5] |", "| GRPO: execution | 20.0 % |"], table);
    }

    [Fact]
    public void A_pipe_or_line_break_inside_a_cell_does_not_break_the_table()
    {
        var md = new ExperimentMarkdown("t").Table(["a"], [["x | y\nz"]]).ToString();

        Assert.Contains("| x \\| y z |", md);
    }

    [Fact]
    public void A_row_with_the_wrong_number_of_cells_is_refused_naming_the_row()
    {
        var e = Assert.Throws<ArgumentException>(() => new ExperimentMarkdown("t").Table(["a", "b"], [["1", "2"], ["3"]]));
        Assert.Contains("row 2 has 1 cells, the header 2", e.Message);
    }
}
