using Pipeline.Rewards.Similarity;
using static TorchSharp.torch;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// ONI's classification reward model: a small MLP (<see cref="ScoreHead"/>, one logit) over frozen sentence embeddings
/// or hashed character n-grams, trained with BCE-with-logits on binary targets <c>score &gt;= label-threshold</c>
/// (AdamW, gradient clipping, optional class-balancing pos_weight). <see cref="Score"/> reports P(positive)
/// (<c>output = probability</c>) or the decision P &gt;= <c>decision-threshold</c> as 1/0 (<c>output = decision</c>).
/// An untrained model (<see cref="TorchRewardModel.Version"/> 0) reports <c>default-reward</c> with Known = false.
/// Not thread-safe (see <see cref="TorchRewardModel"/>).
/// </summary>
public sealed class ClassificationRewardModel : TorchRewardModel, IPointwiseRewardModel
{
    private long _positives, _negatives;

    /// <param name="options">Settings; <c>variant</c> is not checked (a factory picks the class).</param>
    /// <param name="encoder">The frozen sentence encoder; required for <c>features = embedding</c>, ignored for chars.</param>
    public ClassificationRewardModel(RewardModelOptions options, ISentenceEncoder? encoder = null)
        : this(options, CreateFeaturizer(options, encoder)) { }

    public ClassificationRewardModel(RewardModelOptions options, IFeaturizer featurizer) : base(options, featurizer) { }

    public override string Variant => "classification";

    /// <summary>Positive / negative labels trained on so far (class balancing reads them).</summary>
    public long Positives => _positives;
    public long Negatives => _negatives;

    /// <summary>The BCE pos_weight the next step would use (class-balance: negatives / positives clamped to [0.05, 20]).</summary>
    public double CurrentPosWeight =>
        !Options.ClassBalance ? Options.PosWeight
        : _positives == 0 || _negatives == 0 ? 1.0
        : Math.Clamp((double)_negatives / _positives, 0.05, 20.0);

    /// <summary>One AdamW step on <paramref name="batch"/>; loss and accuracy (decision vs class) are of the batch before the step.</summary>
    public RewardModelStep TrainStep(IReadOnlyList<PointLabel> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) return RewardModelStep.Skipped("empty batch");
        for (var i = 0; i < batch.Count; i++)
            if (!double.IsFinite(batch[i].Score))
            {
                Skip($"non-finite label score ({batch[i].Score}) in item {i}");
                return RewardModelStep.Skipped(LastSkipReason!);
            }

        var classes = batch.Select(l => l.IsPositive(Options.LabelThreshold)).ToArray();
        var pos = classes.Count(c => c);
        _positives += pos;
        _negatives += classes.Length - pos;

        using var scope = NewDisposeScope();
        Head.train();
        var x = Features(batch.Select(l => l.Text).ToList());
        var y = tensor(classes.Select(c => c ? 1f : 0f).ToArray(), device: Device);
        var logits = Head.forward(x);
        var posWeight = CurrentPosWeight;
        var loss = nn.functional.binary_cross_entropy_with_logits(logits, y,
            pos_weights: posWeight == 1.0 ? null : tensor(new[] { (float)posWeight }, device: Device));
        var accuracy = Accuracy(logits.detach().to(ScalarType.Float64).cpu().data<double>().ToArray(), classes);
        var applied = ApplyStep(loss, out var lossValue);
        return new RewardModelStep(lossValue, accuracy, applied, applied ? null : LastSkipReason);
    }

    public override RewardModelScore Score(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0) return RewardModelScore.Empty;
        if (Version == 0) return Defaults(texts.Count);
        var p = Probabilities(texts);
        var values = new double[p.Length];
        var known = new bool[p.Length];
        for (var i = 0; i < p.Length; i++)
        {
            known[i] = double.IsFinite(p[i]);
            values[i] = !known[i] ? Options.DefaultReward
                : Options.Output == RewardOutput.Decision ? (p[i] >= Options.DecisionThreshold ? 1.0 : 0.0)
                : p[i];
        }
        return new RewardModelScore(values, known);
    }

    /// <summary>P(positive) per text, whatever the version (NaN where the output is not finite).</summary>
    public double[] Probabilities(IReadOnlyList<string> texts) => RawOutputs(texts).Select(Sigmoid).ToArray();

    /// <summary>Fraction of <paramref name="heldOut"/> where P &gt;= decision-threshold equals score &gt;= label-threshold; NaN when empty.</summary>
    public double Agreement(IReadOnlyList<PointLabel> heldOut)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        if (heldOut.Count == 0) return double.NaN;
        var logits = RawOutputs(heldOut.Select(l => l.Text).ToList());
        return Accuracy(logits, heldOut.Select(l => l.IsPositive(Options.LabelThreshold)).ToArray());
    }

    /// <summary>P(positive) as the score of each held-out label, at decision-threshold (agreement equals <see cref="Agreement"/>).</summary>
    public HeldOutMetrics Evaluate(IReadOnlyList<PointLabel> heldOut)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        if (heldOut.Count == 0) return HeldOutMetrics.Empty;
        return HeldOutMetrics.Compute(Probabilities(heldOut.Select(l => l.Text).ToList()),
            heldOut.Select(l => l.IsPositive(Options.LabelThreshold)).ToArray(), Options.DecisionThreshold);
    }

    private double Accuracy(double[] logits, bool[] classes)
    {
        var hits = 0;
        for (var i = 0; i < logits.Length; i++)
            if (Sigmoid(logits[i]) >= Options.DecisionThreshold == classes[i]) hits++;
        return (double)hits / logits.Length;
    }

    private static double Sigmoid(double z) => double.IsNaN(z) ? double.NaN : 1.0 / (1.0 + Math.Exp(-z));

    public override void Save(string dir) =>
        SaveCore(dir, new RewardModelMeta { Positives = _positives, Negatives = _negatives });

    /// <summary>Loads a model saved by <see cref="Save"/>; <paramref name="encoder"/> is needed when it was trained on embeddings
    /// (its model name and dimension must match).</summary>
    public static ClassificationRewardModel Load(string dir, ISentenceEncoder? encoder = null)
    {
        var meta = RewardModelStore.ReadMeta(dir, RewardModelVariant.Classification);
        var model = new ClassificationRewardModel(meta.Options, encoder);
        try
        {
            model.LoadCore(dir, meta);
            model._positives = meta.Positives;
            model._negatives = meta.Negatives;
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
