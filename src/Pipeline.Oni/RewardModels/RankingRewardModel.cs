using Pipeline.Rewards.Similarity;
using static TorchSharp.torch;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// ONI's ranking reward model: Bradley-Terry. A scalar head r(text) (<see cref="ScoreHead"/> over the same featurizers)
/// is trained on pairwise preferences with soft labels: loss = BCE(sigmoid(r_A - r_B), prefer_A), a tie being 0.5.
/// <see cref="Score"/> returns the raw r, raised to the q-quantile of the recent raw scores when <c>quantile-floor</c> is set,
/// then normalised as (r - mean) / std by a running (Welford) estimate over the raw scores <see cref="Score"/> has seen
/// (the batch being scored included). <see cref="Raw"/> reads r alone and updates nothing.
/// An untrained model (<see cref="TorchRewardModel.Version"/> 0) reports <c>default-reward</c> with Known = false.
/// Not thread-safe (see <see cref="TorchRewardModel"/>).
/// </summary>
public sealed class RankingRewardModel : TorchRewardModel, IPairwiseRewardModel
{
    private readonly RunningMeanStd _normalizer = new();
    private readonly RecentWindow _recent;

    /// <param name="options">Settings; <c>variant</c> is not checked (a factory picks the class).</param>
    /// <param name="encoder">The frozen sentence encoder; required for <c>features = embedding</c>, ignored for chars.</param>
    public RankingRewardModel(RewardModelOptions options, ISentenceEncoder? encoder = null)
        : this(options, CreateFeaturizer(options, encoder)) { }

    public RankingRewardModel(RewardModelOptions options, IFeaturizer featurizer) : base(options, featurizer)
    {
        _recent = new RecentWindow(Options.QuantileWindow);
    }

    public override string Variant => "ranking";

    /// <summary>The running statistics of the raw scores seen by <see cref="Score"/>.</summary>
    public RunningMeanStd Normalizer => _normalizer;

    /// <summary>The current quantile floor on raw scores (NaN when off or nothing has been scored yet).</summary>
    public double CurrentFloor => Options.QuantileFloor is { } q && _recent.Count > 0 ? _recent.Quantile(q) : double.NaN;

    /// <summary>One AdamW step on <paramref name="batch"/>. Accuracy: fraction of the batch's non-tie pairs ordered right
    /// before the step (NaN when all are ties).</summary>
    public RewardModelStep TrainStep(IReadOnlyList<PairLabel> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) return RewardModelStep.Skipped("empty batch");
        foreach (var p in batch)
            if (double.IsFinite(p.PreferA) && (p.PreferA < 0 || p.PreferA > 1))
                throw new ArgumentOutOfRangeException(nameof(batch), p.PreferA, "prefer-a must be in [0, 1]");

        using var scope = NewDisposeScope();
        Head.train();
        var n = batch.Count;
        var texts = new List<string>(2 * n);
        texts.AddRange(batch.Select(p => p.TextA));
        texts.AddRange(batch.Select(p => p.TextB));
        var r = Head.forward(Features(texts));
        var margin = r.narrow(0, 0, n) - r.narrow(0, n, n);
        // A NaN preference makes the loss NaN: the step is skipped and counted by ApplyStep.
        var target = tensor(batch.Select(p => (float)p.PreferA).ToArray(), device: Device);
        var loss = nn.functional.binary_cross_entropy_with_logits(margin, target);
        var accuracy = PairAccuracy(margin.detach().to(ScalarType.Float64).cpu().data<double>().ToArray(), batch);
        var applied = ApplyStep(loss, out var lossValue);
        return new RewardModelStep(lossValue, accuracy, applied, applied ? null : LastSkipReason);
    }

    /// <summary>Scores for rollouts: updates the normaliser (and the quantile window) with the batch's raw scores, then
    /// floors and normalises them.</summary>
    public override RewardModelScore Score(IReadOnlyList<string> texts) => Score(texts, updateStatistics: true);

    /// <param name="texts">Texts to score.</param>
    /// <param name="updateStatistics">false: read with the current normaliser and floor without feeding them.</param>
    public RewardModelScore Score(IReadOnlyList<string> texts, bool updateStatistics)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0) return RewardModelScore.Empty;
        if (Version == 0) return Defaults(texts.Count);
        var raw = RawOutputs(texts);
        if (updateStatistics)
            foreach (var r in raw)
            {
                _normalizer.Update(r);
                _recent.Add(r);
            }
        var floor = CurrentFloor;
        var values = new double[raw.Length];
        var known = new bool[raw.Length];
        for (var i = 0; i < raw.Length; i++)
        {
            known[i] = double.IsFinite(raw[i]);
            if (!known[i])
            {
                values[i] = Options.DefaultReward;
                continue;
            }
            var r = double.IsFinite(floor) ? Math.Max(raw[i], floor) : raw[i];
            values[i] = Options.Normalize ? _normalizer.Normalize(r) : r;
        }
        return new RewardModelScore(values, known);
    }

    /// <summary>The raw Bradley-Terry reward r(text) per text; updates nothing.</summary>
    public double[] Raw(IReadOnlyList<string> texts) => RawOutputs(texts);

    public double Agreement(IReadOnlyList<PairLabel> heldOut)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        var pairs = heldOut.Where(p => !p.IsTie && double.IsFinite(p.PreferA)).ToList();
        if (pairs.Count == 0) return double.NaN;
        var texts = pairs.Select(p => p.TextA).Concat(pairs.Select(p => p.TextB)).ToList();
        var r = RawOutputs(texts);
        var margins = new double[pairs.Count];
        for (var i = 0; i < pairs.Count; i++) margins[i] = r[i] - r[pairs.Count + i];
        return PairAccuracy(margins, pairs);
    }

    /// <summary>Among non-tie pairs: sign(margin) agrees with prefer-a &gt; 0.5. A zero or non-finite margin is a miss.</summary>
    private static double PairAccuracy(double[] margins, IReadOnlyList<PairLabel> pairs)
    {
        int counted = 0, hits = 0;
        for (var i = 0; i < pairs.Count; i++)
        {
            var p = pairs[i];
            if (p.IsTie || !double.IsFinite(p.PreferA)) continue;
            counted++;
            if (p.PreferA > 0.5 ? margins[i] > 0 : margins[i] < 0) hits++;
        }
        return counted == 0 ? double.NaN : (double)hits / counted;
    }

    public override void Save(string dir) =>
        SaveCore(dir, new RewardModelMeta { Normalizer = _normalizer.State, RecentScores = _recent.Values() });

    /// <summary>Loads a model saved by <see cref="Save"/> (weights, optimizer, normaliser, quantile window).</summary>
    public static RankingRewardModel Load(string dir, ISentenceEncoder? encoder = null)
    {
        var meta = RewardModelStore.ReadMeta(dir, RewardModelVariant.Ranking);
        var model = new RankingRewardModel(meta.Options, encoder);
        try
        {
            model.LoadCore(dir, meta);
            if (meta.Normalizer is not null) model._normalizer.Restore(meta.Normalizer);
            foreach (var r in meta.RecentScores ?? []) model._recent.Add(r);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
