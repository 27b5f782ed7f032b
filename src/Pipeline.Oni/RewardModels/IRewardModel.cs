namespace Pipeline.Oni.RewardModels;

/// <summary>
/// A learned (or tabulated) reward model that scores texts (completions, captions) at once, as in ONI
/// (facebookresearch/oni): retrieval, classification or ranking.
/// </summary>
/// <remarks>
/// Thread confinement: implementations are NOT thread-safe. Each instance belongs to one owner (one actor) and is called
/// one call at a time; the call may come on any thread (TorchSharp dispose scopes are thread-static but only live inside
/// one call). To score from several actors, give each a copy (e.g. <see cref="IRewardModel.Save"/> + load, per version).
/// </remarks>
public interface IRewardModel
{
    /// <summary><c>retrieval</c>, <c>classification</c> or <c>ranking</c>.</summary>
    string Variant { get; }

    /// <summary>Increments on every change of what the model computes (a successful gradient step, a label-table update).</summary>
    long Version { get; }

    /// <summary>One value per text, in input order. Where <see cref="RewardModelScore.Known"/> is false the value is the
    /// configured default (an unseen text, an untrained model, a non-finite output) and the caller should report it.</summary>
    RewardModelScore Score(IReadOnlyList<string> texts);

    /// <summary>Writes the model (weights, optimizer state, table, normaliser, options) into <paramref name="dir"/>
    /// (created if needed; files are replaced atomically one by one, meta.json last).</summary>
    void Save(string dir);
}

/// <summary>A reward model trained on pointwise labels (retrieval, classification).</summary>
public interface IPointwiseRewardModel : IRewardModel
{
    /// <summary>One update on <paramref name="batch"/> (a gradient step, or a table insert for retrieval).</summary>
    RewardModelStep TrainStep(IReadOnlyList<PointLabel> batch);

    /// <summary>Fraction of <paramref name="heldOut"/> where the model's binary decision equals the label's class; NaN when empty.</summary>
    double Agreement(IReadOnlyList<PointLabel> heldOut);

    /// <summary>Agreement next to the majority-class baseline, balanced accuracy and AUC on <paramref name="heldOut"/>.</summary>
    HeldOutMetrics Evaluate(IReadOnlyList<PointLabel> heldOut);
}

/// <summary>A reward model trained on pairwise preferences (ranking).</summary>
public interface IPairwiseRewardModel : IRewardModel
{
    RewardModelStep TrainStep(IReadOnlyList<PairLabel> batch);

    /// <summary>Fraction of non-tie pairs in <paramref name="heldOut"/> where sign(r_A - r_B) matches the preference; NaN when none.</summary>
    double Agreement(IReadOnlyList<PairLabel> heldOut);
}

/// <summary>
/// Scores of a batch of texts. <see cref="Known"/>[i] false: <see cref="Values"/>[i] is the configured default
/// (unseen text, untrained model, non-finite model output), not a judgement of the model.
/// </summary>
public sealed record RewardModelScore(double[] Values, bool[] Known)
{
    public int Count => Values.Length;

    /// <summary>How many values are known (not defaults).</summary>
    public int KnownCount => Known.Count(k => k);

    public static RewardModelScore Empty { get; } = new([], []);
}

/// <summary>
/// Outcome of one training call. <see cref="Loss"/> and <see cref="Accuracy"/> are measured on the batch BEFORE the update
/// (NaN when not computable). <see cref="Applied"/> false: the weights did not change (empty batch, non-finite loss,
/// gradient or weights); <see cref="SkipReason"/> says why.
/// </summary>
public sealed record RewardModelStep(double Loss, double Accuracy, bool Applied, string? SkipReason)
{
    public void Deconstruct(out double loss, out double accuracy)
    {
        loss = Loss;
        accuracy = Accuracy;
    }

    internal static RewardModelStep Skipped(string reason, double loss = double.NaN, double accuracy = double.NaN) =>
        new(loss, accuracy, false, reason);
}
