using Pipeline.Core.Rewards;

namespace Pipeline.Core.Tests;

public class RewardCompositionSpec
{
    private static readonly RewardSourceSpec Execution = new("execution", 1.0, Required: true, TimeSpan.FromSeconds(5));
    private static readonly RewardSourceSpec Rubric = new("rubric", 0.5, Required: false, TimeSpan.FromSeconds(5));

    [Fact]
    public void Valid_signals_are_summed_with_their_weights()
    {
        var r = RewardComposition.Compose(
            [RewardSignal.Ok("execution", 1, TimeSpan.Zero), RewardSignal.Ok("rubric", 0.8, TimeSpan.Zero)], [Execution, Rubric]);
        Assert.True(r.Valid);
        Assert.Equal(1.4, r.Value, 9);
    }

    [Fact]
    public void An_invalid_required_source_masks_the_reward_instead_of_scoring_zero()
    {
        var r = RewardComposition.Compose(
            [RewardSignal.Invalid("execution", "gold failed", TimeSpan.Zero), RewardSignal.Ok("rubric", 1, TimeSpan.Zero)], [Execution, Rubric]);
        Assert.False(r.Valid);
        Assert.True(double.IsNaN(r.Value));
        Assert.Contains("execution", r.Reason);
    }

    [Fact]
    public void A_missing_required_source_masks_the_reward()
    {
        var r = RewardComposition.Compose([RewardSignal.Ok("rubric", 1, TimeSpan.Zero)], [Execution, Rubric]);
        Assert.False(r.Valid);
        Assert.Contains("missing", r.Reason);
    }

    [Fact]
    public void An_invalid_optional_source_is_left_out_of_the_sum()
    {
        var r = RewardComposition.Compose(
            [RewardSignal.Ok("execution", 1, TimeSpan.Zero), RewardSignal.Invalid("rubric", "late", TimeSpan.Zero)], [Execution, Rubric]);
        Assert.True(r.Valid);
        Assert.Equal(1.0, r.Value);
    }

    [Fact]
    public void A_non_finite_value_becomes_an_invalid_signal()
    {
        var s = RewardSignal.Ok("execution", double.PositiveInfinity, TimeSpan.Zero);
        Assert.False(s.Valid);
        Assert.Contains("non-finite", s.Details);
    }
}
