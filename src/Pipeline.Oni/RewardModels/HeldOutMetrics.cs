namespace Pipeline.Oni.RewardModels;

/// <summary>
/// How a binary reward model does on held-out critic labels, next to the trivial answer: raw agreement, the majority-class
/// baseline (the agreement of always answering the more frequent class), balanced accuracy (the mean of the true-positive
/// and true-negative rates; 0.5 for any constant answer) and ROC AUC (the probability that a random positive scores above a
/// random negative, ties counting half; 0.5 for a constant score). A rate, or the AUC, that needs a class the set lacks is NaN.
/// </summary>
public sealed record HeldOutMetrics(int Count, int Positives, double Agreement, double MajorityBaseline, double BalancedAccuracy, double Auc)
{
    public static readonly HeldOutMetrics Empty = new(0, 0, double.NaN, double.NaN, double.NaN, double.NaN);

    public int Negatives => Count - Positives;

    /// <param name="scores">The model's score per label (a probability, or any value ordered like one); NaN never counts as a hit.</param>
    /// <param name="positive">The critic's class per label.</param>
    /// <param name="threshold">Score at or above which the model answers positive.</param>
    public static HeldOutMetrics Compute(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, double threshold)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(positive);
        if (scores.Count != positive.Count)
            throw new ArgumentException($"{scores.Count} scores for {positive.Count} labels", nameof(scores));
        var n = scores.Count;
        if (n == 0) return Empty;

        int pos = 0, truePos = 0, trueNeg = 0;
        for (var i = 0; i < n; i++)
        {
            var said = scores[i] >= threshold;
            if (positive[i]) { pos++; if (said) truePos++; }
            else if (!said && !double.IsNaN(scores[i])) trueNeg++;
        }
        var neg = n - pos;
        var tpr = pos > 0 ? (double)truePos / pos : double.NaN;
        var tnr = neg > 0 ? (double)trueNeg / neg : double.NaN;
        return new HeldOutMetrics(n, pos, (double)(truePos + trueNeg) / n, (double)Math.Max(pos, neg) / n,
            (tpr + tnr) / 2, RankAuc(scores, positive, pos, neg));
    }

    /// <summary>Mann-Whitney U / (positives * negatives), with tied scores given their average rank; NaN scores rank lowest.</summary>
    private static double RankAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, int pos, int neg)
    {
        if (pos == 0 || neg == 0) return double.NaN;
        var order = Enumerable.Range(0, scores.Count)
            .OrderBy(i => double.IsNaN(scores[i]) ? double.NegativeInfinity : scores[i]).ToArray();
        double positiveRankSum = 0;
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            var value = Key(scores[order[start]]);
            while (end + 1 < order.Length && Key(scores[order[end + 1]]) == value) end++;
            var rank = (start + end) / 2.0 + 1; // average 1-based rank of the tie block
            for (var k = start; k <= end; k++)
                if (positive[order[k]]) positiveRankSum += rank;
            start = end + 1;
        }
        return (positiveRankSum - pos * (pos + 1) / 2.0) / ((double)pos * neg);

        static double Key(double s) => double.IsNaN(s) ? double.NegativeInfinity : s;
    }

    public override string ToString() =>
        $"n={Count} (positives {Positives}) agreement={Agreement:P1} majority={MajorityBaseline:P1} balanced={BalancedAccuracy:P1} auc={Auc:0.000}";
}
