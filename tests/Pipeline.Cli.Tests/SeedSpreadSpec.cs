namespace Pipeline.Cli.Tests;

public class SeedSpreadSpec
{
    [Fact]
    public void Mean_min_max_and_sample_sd_are_taken_over_the_seeds()
    {
        var s = SeedSpread.Of([0.10, 0.20, 0.30]);

        Assert.Equal(0.20, s.Mean, 12);
        Assert.Equal(0.10, s.Min, 12);
        Assert.Equal(0.30, s.Max, 12);
        Assert.Equal(0.10, s.Sd, 12);
        Assert.Equal("20.0 % [10.0–30.0]", s.Percent());
    }

    [Fact]
    public void A_seed_without_a_value_is_left_out_and_counted_never_read_as_zero()
    {
        var s = SeedSpread.Of([0.40, double.NaN, 0.20]);

        Assert.Equal(0.30, s.Mean, 12);
        Assert.Equal(0.20, s.Min, 12);
        Assert.Equal(2, s.N);
        Assert.Equal("30.0 % [20.0–40.0] (2 of 3 seeds)", s.Percent());
    }

    [Fact]
    public void No_value_at_all_reads_not_available_and_one_seed_shows_no_range()
    {
        Assert.Equal("n/a", SeedSpread.Of([double.NaN, double.NaN]).Percent());
        var one = SeedSpread.Of([12.345]);
        Assert.Equal("12.3", one.Number());
        Assert.True(double.IsNaN(one.Sd));
    }
}
