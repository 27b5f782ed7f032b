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

public class RewardComposerSpec
{
    private static IReadOnlyList<RewardSignal>[] Group(params (double Exec, double Judge)[] rows)
        => rows.Select(r => (IReadOnlyList<RewardSignal>)
        [
            double.IsNaN(r.Exec) ? RewardSignal.Invalid("exec", "scripted", TimeSpan.Zero) : RewardSignal.Ok("exec", r.Exec, TimeSpan.Zero),
            double.IsNaN(r.Judge) ? RewardSignal.Invalid("judge", "scripted", TimeSpan.Zero) : RewardSignal.Ok("judge", r.Judge, TimeSpan.Zero),
        ]).ToArray();

    private static RewardSourceSpec Exec(RewardNormalizer n = RewardNormalizer.None) => new("exec", 1.0, true, TimeSpan.FromSeconds(1)) { Normalizer = n };
    private static RewardSourceSpec Judge(RewardNormalizer n = RewardNormalizer.None) => new("judge", 0.5, false, TimeSpan.FromSeconds(1)) { Normalizer = n };

    [Fact]
    public void Group_rank_maps_ranks_to_unit_interval_with_shared_ties_and_skips_invalid_values()
    {
        var composer = new RewardComposer([Exec(), Judge(RewardNormalizer.GroupRank)]);
        var r = composer.ComposeGroup(Group((0, 9), (0, 3), (0, double.NaN), (0, 3), (0, 7)));
        // judge valid values 9, 3, 3, 7 -> ranks 1, 0 (shared 0 and 1/3 -> 1/6), 2/3
        Assert.Equal([0.5 * 1.0, 0.5 * (1 / 6.0), 0.0, 0.5 * (1 / 6.0), 0.5 * (2 / 3.0)], r.Select(c => c.Value), new Tolerance(1e-12));
        Assert.All(r, c => Assert.True(c.Valid));
    }

    [Fact]
    public void Running_normaliser_uses_every_valid_value_seen_so_far()
    {
        var composer = new RewardComposer([Exec(RewardNormalizer.Running)]);
        composer.ComposeGroup(Group((1, 0), (3, 0)));
        var second = composer.ComposeGroup(Group((5, 0), (double.NaN, 0)));
        // seen: 1, 3, 5 -> mean 3, sample std 2
        Assert.Equal(1.0, second[0].Value, 12);
        Assert.False(second[1].Valid); // a required invalid source masks the rollout, never 0
        Assert.True(double.IsNaN(second[1].Value));
    }

    [Fact]
    public void Log_sigmoid_transform_is_applied_before_the_weighted_sum()
    {
        var judge = Judge() with { Transform = RewardTransform.LogSigmoid, TransformOffset = 1.0 };
        var composer = new RewardComposer([Exec(), judge]);
        var r = composer.ComposeGroup(Group((1, 3)));
        Assert.Equal(1.0 + 0.5 * Math.Log(1 / (1 + Math.Exp(-2.0))), r[0].Value, 12);
        Assert.Equal(-800.0, RewardComposition.LogSigmoid(-800), 9); // stable far out
    }

    [Fact]
    public void Sum_then_normalize_normalises_the_total_not_the_sources()
    {
        var composer = new RewardComposer([Exec(), Judge()], RewardAggregation.SumThenNormalize, RewardNormalizer.GroupRank);
        var r = composer.ComposeGroup(Group((1, 0), (0, 4), (0, 0)));
        // totals 1, 2, 0 -> ranks 0.5, 1, 0
        Assert.Equal([0.5, 1.0, 0.0], r.Select(c => c.Value), new Tolerance(1e-12));
    }

    [Fact]
    public void Normalize_then_sum_with_no_normaliser_matches_the_stateless_composition()
    {
        var specs = new[] { Exec(), Judge() };
        var group = Group((1, 0.2), (0, double.NaN), (double.NaN, 1));
        var composed = new RewardComposer(specs).ComposeGroup(group);
        for (var i = 0; i < group.Length; i++)
        {
            var single = RewardComposition.Compose(group[i], specs);
            Assert.Equal(single.Valid, composed[i].Valid);
            Assert.Equal(single.Value, composed[i].Value, 12);
        }
    }

    private sealed class Tolerance(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= eps;
        public int GetHashCode(double obj) => 0;
    }
}

public class DenseRewardsSpec
{
    [Fact]
    public void A_span_rewards_every_token_it_overlaps_scaled_by_its_source()
    {
        // "SELECT name FROM users": tokens start at 0 ("SELECT"), 6 (" name"), 11 (" FROM"), 16 (" users"), text length 22.
        int[] starts = [0, 6, 11, 16];
        var marked = new List<(IReadOnlyList<SpanReward>, double)>
        {
            ([new SpanReward(7, 4, -1.0, "wrong column")], 0.5),     // "name": token 1 only
            ([new SpanReward(10, 8, 2.0), new SpanReward(3, 0, 9.0)], 0.25), // crosses " FROM" and into " users"; an empty span is ignored
        };
        var bonus = DenseRewards.TokenBonus(marked, starts, 22);
        Assert.NotNull(bonus);
        Assert.Equal([0f, -0.5f + 0.5f, 0.5f, 0.5f], bonus!);
    }

    [Fact]
    public void No_span_or_a_zero_scale_gives_no_bonus()
    {
        Assert.Null(DenseRewards.TokenBonus([], [0, 3], 5));
        Assert.Null(DenseRewards.TokenBonus([([new SpanReward(0, 5, 1.0)], 0.0)], [0, 3], 5));
        Assert.Null(DenseRewards.TokenBonus([([new SpanReward(6, 2, 1.0)], 1.0)], [0, 3], 5)); // outside the text
    }
}
