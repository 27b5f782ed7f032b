namespace Pipeline.Core.Rewards;

/// <summary>How a source's values (or, in <see cref="RewardAggregation.SumThenNormalize"/>, the total) are rescaled.</summary>
public enum RewardNormalizer
{
    /// <summary>Values as the source gives them.</summary>
    None,
    /// <summary>(x - mean) / std over every valid value seen so far in the run (Welford; std floored).</summary>
    Running,
    /// <summary>Rank inside the group mapped to [0, 1] (ties share their mean rank; a lone value is 0.5).</summary>
    GroupRank,
}

/// <summary>Optional transform before summing. LogSigmoid is the Bradley-Terry transform u = log sigmoid(x - offset)
/// of "Transforming and Combining Rewards for Aligning Large Language Models" (Wang et al., 2024).</summary>
public enum RewardTransform { None, LogSigmoid }

/// <summary>Normalise each source then take the weighted sum, or sum the (transformed) raw values and normalise the total.</summary>
public enum RewardAggregation { NormalizeThenSum, SumThenNormalize }

/// <summary>How one declared source takes part in the total reward.</summary>
public sealed record RewardSourceSpec(string Name, double Weight, bool Required, TimeSpan Deadline)
{
    /// <summary>The registered factory that builds it (defaults to the name).</summary>
    public string Type { get; init; } = Name;
    public RewardNormalizer Normalizer { get; init; } = RewardNormalizer.None;
    public RewardTransform Transform { get; init; } = RewardTransform.None;
    /// <summary>The reference point of the log-sigmoid transform (the paper's r_ref).</summary>
    public double TransformOffset { get; init; }
}

/// <summary>The scalar the learner sees for one rollout; <see cref="Valid"/> false means masked.</summary>
public sealed record ComposedReward(double Value, bool Valid, string? Reason);

/// <summary>
/// Weighted sum of the valid signals. A missing or invalid REQUIRED source makes the whole reward invalid
/// (masked in the advantage, never 0); a missing or invalid optional source is left out of the sum.
/// </summary>
public static class RewardComposition
{
    /// <summary>Stateless composition of one rollout's signals: weights and the transform only (no normalisers).</summary>
    public static ComposedReward Compose(IReadOnlyList<RewardSignal> signals, IReadOnlyList<RewardSourceSpec> specs)
        => new RewardComposer(specs).ComposeGroup([signals])[0];

    internal static RewardSignal? Find(IReadOnlyList<RewardSignal> signals, string name)
    {
        foreach (var s in signals)
            if (s.Source == name) return s;
        return null;
    }

    internal static ComposedReward RequiredInvalid(RewardSourceSpec spec, RewardSignal? signal)
        => new(double.NaN, false, $"required source '{spec.Name}' {(signal is null ? "missing" : "invalid: " + signal.Details)}");

    public static double Transform(RewardSourceSpec spec, double x) => spec.Transform switch
    {
        RewardTransform.LogSigmoid => LogSigmoid(x - spec.TransformOffset),
        _ => x,
    };

    /// <summary>log(1 / (1 + e^-x)), stable for large |x|.</summary>
    public static double LogSigmoid(double x) => x >= 0 ? -Math.Log(1 + Math.Exp(-x)) : x - Math.Log(1 + Math.Exp(x));
}

/// <summary>
/// Composes whole groups with normalisers that need state (running mean/std) or the group (rank). One instance per
/// annotation stage, used from the actor's thread only. Invalid signals are never normalised, never counted as 0:
/// a required invalid source masks the rollout, an optional one is left out.
/// </summary>
public sealed class RewardComposer
{
    private readonly IReadOnlyList<RewardSourceSpec> _specs;
    private readonly RewardAggregation _aggregation;
    private readonly RewardNormalizer _totalNormalizer;
    private readonly Dictionary<string, RunningMoments> _moments = new(StringComparer.Ordinal);
    private readonly RunningMoments _totalMoments = new();

    public RewardComposer(IReadOnlyList<RewardSourceSpec> specs, RewardAggregation aggregation = RewardAggregation.NormalizeThenSum,
        RewardNormalizer totalNormalizer = RewardNormalizer.None)
    {
        _specs = specs;
        _aggregation = aggregation;
        _totalNormalizer = totalNormalizer;
        foreach (var s in specs) _moments[s.Name] = new RunningMoments();
    }

    public IReadOnlyList<RewardSourceSpec> Specs => _specs;

    /// <summary>One entry per rollout: that rollout's signals (any order, one per source).</summary>
    public ComposedReward[] ComposeGroup(IReadOnlyList<IReadOnlyList<RewardSignal>> rollouts)
    {
        var n = rollouts.Count;
        var result = new ComposedReward?[n];
        // values[s][r]: the source's value for rollout r after its normaliser and transform; NaN where invalid.
        var values = new double[_specs.Count][];
        for (var s = 0; s < _specs.Count; s++)
        {
            var spec = _specs[s];
            var raw = new double[n];
            for (var r = 0; r < n; r++)
            {
                var signal = RewardComposition.Find(rollouts[r], spec.Name);
                raw[r] = signal is { Valid: true } ? signal.Value : double.NaN;
                if (double.IsNaN(raw[r]) && spec.Required && result[r] is null)
                    result[r] = RewardComposition.RequiredInvalid(spec, signal);
            }
            var normalised = _aggregation == RewardAggregation.NormalizeThenSum ? Normalise(spec.Normalizer, raw, _moments[spec.Name]) : raw;
            values[s] = normalised.Select(v => double.IsNaN(v) ? v : RewardComposition.Transform(spec, v)).ToArray();
        }

        var totals = new double[n];
        for (var r = 0; r < n; r++)
        {
            if (result[r] is not null) { totals[r] = double.NaN; continue; }
            var total = 0.0;
            var any = false;
            for (var s = 0; s < _specs.Count; s++)
            {
                var v = values[s][r];
                if (double.IsNaN(v)) continue;
                total += _specs[s].Weight * v;
                any = true;
            }
            totals[r] = any ? total : double.NaN;
            if (!any) result[r] = new ComposedReward(double.NaN, false, "no valid reward source");
        }

        if (_aggregation == RewardAggregation.SumThenNormalize)
            totals = Normalise(_totalNormalizer, totals, _totalMoments);

        var composed = new ComposedReward[n];
        for (var r = 0; r < n; r++)
            composed[r] = result[r] ?? (double.IsFinite(totals[r])
                ? new ComposedReward(totals[r], true, null)
                : new ComposedReward(double.NaN, false, $"composed reward is {totals[r]}"));
        return composed;
    }

    /// <summary>NaN entries (invalid) stay NaN and take no part in the statistics.</summary>
    public static double[] Normalise(RewardNormalizer normalizer, double[] values, RunningMoments moments)
    {
        switch (normalizer)
        {
            case RewardNormalizer.Running:
                foreach (var v in values)
                    if (!double.IsNaN(v)) moments.Add(v);
                var std = Math.Max(moments.StdDev, 1e-6);
                return values.Select(v => double.IsNaN(v) ? v : (v - moments.Mean) / std).ToArray();
            case RewardNormalizer.GroupRank:
                return GroupRank(values);
            default:
                return values;
        }
    }

    private static double[] GroupRank(double[] values)
    {
        var valid = Enumerable.Range(0, values.Length).Where(i => !double.IsNaN(values[i])).OrderBy(i => values[i]).ToArray();
        var ranks = values.Select(_ => double.NaN).ToArray();
        if (valid.Length == 1) { ranks[valid[0]] = 0.5; return ranks; }
        for (var k = 0; k < valid.Length;)
        {
            var end = k;
            while (end + 1 < valid.Length && values[valid[end + 1]] == values[valid[k]]) end++;
            var meanRank = (k + end) / 2.0 / (valid.Length - 1);
            for (var j = k; j <= end; j++) ranks[valid[j]] = meanRank;
            k = end + 1;
        }
        return ranks;
    }
}

/// <summary>Welford's running mean and variance.</summary>
public sealed class RunningMoments
{
    private double _m2;
    public long Count { get; private set; }
    public double Mean { get; private set; }
    public double Variance => Count > 1 ? _m2 / (Count - 1) : 0;
    public double StdDev => Math.Sqrt(Variance);

    public void Add(double x)
    {
        Count++;
        var delta = x - Mean;
        Mean += delta / Count;
        _m2 += delta * (x - Mean);
    }
}
