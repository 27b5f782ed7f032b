using Pipeline.Core.Grpo;

namespace Pipeline.Core.Tests;

public class GroupAdvantagesSpec
{
    [Fact]
    public void Advantages_are_rewards_minus_mean_over_unbiased_std()
    {
        // rewards 1, 0, 0, 1: mean 0.5, unbiased std = sqrt(4 * 0.25 / 3) = 0.57735
        var a = GroupAdvantages.Compute([1, 0, 0, 1], [true, true, true, true], epsilon: 0);
        var expected = 0.5 / Math.Sqrt(1.0 / 3.0);
        Assert.Equal(expected, a[0], 6);
        Assert.Equal(-expected, a[1], 6);
        Assert.Equal(-expected, a[2], 6);
        Assert.Equal(expected, a[3], 6);
    }

    [Fact]
    public void An_all_equal_group_gets_zero_advantage()
    {
        var a = GroupAdvantages.Compute([0.7, 0.7, 0.7], [true, true, true]);
        Assert.All(a, x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void Invalid_rewards_are_masked_not_counted_as_zero()
    {
        // If the invalid NaN were read as 0, the mean would be 1/3 and the first advantage would differ.
        var a = GroupAdvantages.Compute([1, double.NaN, 0], [true, false, true], epsilon: 0);
        Assert.Equal(0.0, a[1]);
        // valid {1, 0}: mean 0.5, unbiased std sqrt(0.5) = 0.7071
        Assert.Equal(0.5 / Math.Sqrt(0.5), a[0], 6);
        Assert.Equal(-0.5 / Math.Sqrt(0.5), a[2], 6);
    }

    [Fact]
    public void A_group_with_at_most_one_valid_reward_gets_zero_advantage()
    {
        Assert.All(GroupAdvantages.Compute([1, double.NaN, double.NaN], [true, false, false]), x => Assert.Equal(0.0, x));
        Assert.All(GroupAdvantages.Compute([double.NaN, double.NaN], [false, false]), x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void A_valid_reward_that_is_not_finite_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => GroupAdvantages.Compute([1, double.NaN], [true, true]));
        Assert.Contains("reward 1", e.Message);
    }

    [Fact]
    public void Without_std_scaling_advantages_are_centred_rewards()
    {
        var a = GroupAdvantages.Compute([3, 1], [true, true], scaleByStd: false);
        Assert.Equal([1.0, -1.0], a);
    }
}
