using Pipeline.Core.Tasks;

namespace Pipeline.Cli.Tests;

public class ExperimentTableLayoutSpec
{
    private static ExperimentTableCommand.Cell Cell(double en, double de, double exactEn, double seconds = 10, double rps = 50)
        => new(new EvalReport(new Dictionary<string, EvalScore>
            {
                ["lang:en"] = new(10, en, exactEn), ["lang:de"] = new(10, de, 0.1), ["db:shop"] = new(5, 0.5, 0.5),
            }, new EvalScore(20, (en + de) / 2, (exactEn + 0.1) / 2)), seconds, rps);

    private static ExperimentTableCommand.Cell[][] Cells(Func<int, ExperimentTableCommand.Cell> perSeed)
        => [.. ExperimentTableCommand.Rows.Select(_ => new[] { perSeed(0), perSeed(1) })];

    [Fact]
    public void Language_slices_are_the_lang_ones_when_the_task_has_them_else_every_slice()
    {
        Assert.Equal(["lang:de", "lang:en"], ExperimentTableCommand.Languages([Cell(0.1, 0.2, 0.1).Report]));
        var sql = new EvalReport(new Dictionary<string, EvalScore> { ["en"] = new(1, 1, 1), ["fr"] = new(1, 0, 0) }, new EvalScore(2, 0.5, 0.5));
        Assert.Equal(["en", "fr"], ExperimentTableCommand.Languages([sql, null]));
    }

    [Fact]
    public void Each_row_has_execution_and_exact_match_per_language_and_overall_as_mean_and_range_over_seeds()
    {
        var (header, rows) = ExperimentTableCommand.Layout(Cells(seed => Cell(0.2 + 0.1 * seed, 0.4, 0.1)));

        Assert.Equal(["row", "rewards", "exec lang:de", "exact lang:de", "exec lang:en", "exact lang:en", "exec all", "exact all", "wall s", "rollouts/s"], header);
        Assert.Equal(ExperimentTableCommand.Rows.Length, rows.Count);
        Assert.All(rows, r => Assert.Equal(header.Length, r.Count));
        Assert.Equal("25.0 % [20.0–30.0]", rows[1][4]);
        Assert.Equal("40.0 % [40.0–40.0]", rows[1][2]);
    }

    [Fact]
    public void A_seed_whose_run_failed_to_report_is_shown_as_missing_not_as_zero()
    {
        var cells = Cells(_ => Cell(0.3, 0.3, 0.3));
        cells[2][1] = new ExperimentTableCommand.Cell(null, double.NaN, double.NaN);

        var (_, rows) = ExperimentTableCommand.Layout(cells);

        Assert.Equal("30.0 % (1 of 2 seeds)", rows[2][6]);
    }

    [Fact]
    public void The_finding_says_when_the_seeds_ranges_overlap_and_so_no_lift_is_shown()
    {
        var cells = Cells(seed => Cell(0.3, 0.3, 0.2 + 0.1 * seed));

        var findings = ExperimentTableCommand.Findings(cells);

        Assert.Contains("ranges overlap, so this does not show a lift", findings[0]);
    }

    [Fact]
    public void The_finding_names_a_lift_when_similarity_beats_execution_on_every_seed()
    {
        var cells = Cells(seed => Cell(0.3, 0.3, 0.1 + 0.01 * seed));
        cells[2] = [Cell(0.3, 0.3, 0.5), Cell(0.3, 0.3, 0.52)];

        var findings = ExperimentTableCommand.Findings(cells);

        Assert.Contains("a lift on these seeds", findings[0]);
        Assert.Contains("+20.", findings[0]);
    }
}
