namespace Pipeline.Cli.Tests;

public class AccuracyTargetSpec
{
    private static EvalPoint At(double seconds, double accuracy) => new(seconds, (long)seconds, accuracy, double.NaN);

    [Fact]
    public void The_target_is_the_lower_of_the_two_final_accuracies()
    {
        var t = AccuracyTarget.LowerFinal(0.19, 0.23, 0.21);

        Assert.Equal(0.21, t.Value);
        Assert.True(t.AboveWarmStart);
    }

    [Fact]
    public void Seconds_to_target_are_those_of_the_first_evaluation_at_or_above_it()
    {
        var t = AccuracyTarget.LowerFinal(0.10, 0.20, 0.25);

        Assert.Equal(30, t.SecondsToReach([At(10, 0.15), At(30, 0.20), At(50, 0.24)]));
        Assert.Null(t.SecondsToReach([At(10, 0.15), At(30, 0.19)]));
    }

    [Fact]
    public void The_speedup_is_sync_seconds_over_async_seconds()
    {
        var t = AccuracyTarget.LowerFinal(0.10, 0.20, 0.20);

        var (ratio, text) = t.Speedup([At(10, 0.12), At(90, 0.20)], [At(10, 0.15), At(30, 0.21)]);

        Assert.Equal(3.0, ratio!.Value, 12);
        Assert.Equal("3.00x", text);
    }

    [Fact]
    public void A_run_that_never_reaches_the_target_gives_not_reached_instead_of_a_ratio()
    {
        var t = AccuracyTarget.LowerFinal(0.10, 0.20, 0.20);

        var (ratio, text) = t.Speedup([At(10, 0.12), At(90, 0.19)], [At(10, 0.21)]);

        Assert.Null(ratio);
        Assert.Equal("not reached by sync", text);
    }

    [Fact]
    public void A_target_not_above_the_warm_start_gives_no_ratio()
    {
        var t = AccuracyTarget.LowerFinal(0.20, 0.19, 0.22);

        var (ratio, text) = t.Speedup([At(10, 0.19)], [At(5, 0.22)]);

        Assert.False(t.AboveWarmStart);
        Assert.Null(ratio);
        Assert.Contains("not above the warm-start", text);
    }

    [Fact]
    public void A_missing_final_accuracy_is_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => AccuracyTarget.LowerFinal(0.1, double.NaN, 0.2));
        Assert.Contains("final accuracies must be finite", e.Message);
    }
}
