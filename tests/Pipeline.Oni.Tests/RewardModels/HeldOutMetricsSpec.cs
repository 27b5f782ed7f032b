using Pipeline.Oni.RewardModels;

namespace Pipeline.Oni.Tests.RewardModels;

public class HeldOutMetricsSpec
{
    [Fact]
    public void Agreement_majority_baseline_balanced_accuracy_and_auc_match_hand_computed_values()
    {
        // Positives 0.9, 0.7, 0.4; negatives 0.8, 0.6, 0.55, 0.3, 0.2, 0.1, 0.1. At 0.5: TP 2, FN 1, TN 4, FP 3.
        double[] scores = [0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1, 0.1];
        bool[] positive = [true, false, true, false, false, true, false, false, false, false];

        var m = HeldOutMetrics.Compute(scores, positive, 0.5);

        Assert.Equal((10, 3, 7), (m.Count, m.Positives, m.Negatives));
        Assert.Equal(6.0 / 10, m.Agreement, 12);
        Assert.Equal(7.0 / 10, m.MajorityBaseline, 12);
        Assert.Equal((2.0 / 3 + 4.0 / 7) / 2, m.BalancedAccuracy, 12);
        // Negatives below each positive: 0.9 -> 7, 0.7 -> 6, 0.4 -> 4; 17 of 21 pairs.
        Assert.Equal(17.0 / 21, m.Auc, 12);
    }

    [Fact]
    public void Tied_scores_count_half_a_pair_in_the_auc()
    {
        // Pairs: 0.6 > 0.3, 0.6 > 0.1, 0.3 = 0.3 (half), 0.3 > 0.1: 3.5 of 4.
        var m = HeldOutMetrics.Compute([0.6, 0.3, 0.3, 0.1], [true, true, false, false], 0.5);
        Assert.Equal(3.5 / 4, m.Auc, 12);
    }

    [Fact]
    public void A_constant_answer_scores_the_majority_baseline_and_half_balanced_accuracy_and_auc()
    {
        bool[] positive = [true, false, false, false, false, false];
        var alwaysWrong = HeldOutMetrics.Compute(Enumerable.Repeat(0.1, 6).ToArray(), positive, 0.5);

        Assert.Equal(5.0 / 6, alwaysWrong.Agreement, 12);
        Assert.Equal(alwaysWrong.MajorityBaseline, alwaysWrong.Agreement, 12);
        Assert.Equal(0.5, alwaysWrong.BalancedAccuracy, 12);
        Assert.Equal(0.5, alwaysWrong.Auc, 12);
    }

    [Fact]
    public void Rates_that_need_a_missing_class_are_NaN_and_an_empty_set_is_empty()
    {
        var allNegative = HeldOutMetrics.Compute([0.2, 0.7], [false, false], 0.5);
        Assert.Equal(0.5, allNegative.Agreement, 12);
        Assert.Equal(1.0, allNegative.MajorityBaseline, 12);
        Assert.True(double.IsNaN(allNegative.BalancedAccuracy));
        Assert.True(double.IsNaN(allNegative.Auc));
        Assert.Same(HeldOutMetrics.Empty, HeldOutMetrics.Compute([], [], 0.5));
    }

    [Fact]
    public void Scores_and_labels_of_different_lengths_are_refused_with_both_counts()
    {
        var e = Assert.Throws<ArgumentException>(() => HeldOutMetrics.Compute([0.1, 0.2], [true], 0.5));
        Assert.Contains("2 scores for 1 labels", e.Message);
    }
}
