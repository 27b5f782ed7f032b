namespace Pipeline.Oni.RewardModels;

/// <summary>One critic verdict on one sampled completion of one prompt (what the offline reward-model harness collects).</summary>
public sealed record LabelledCompletion(string PromptId, string Prompt, string Completion, double Score);

/// <summary>Splits labelled completions into train and held-out sets by prompt, so no prompt is on both sides.</summary>
public static class PromptSplit
{
    /// <summary>
    /// A seeded shuffle of the distinct prompt ids; the first <c>ceil(heldOutShare * prompts)</c> go to held-out with every
    /// completion of theirs. Items keep their input order on each side.
    /// </summary>
    public static (List<LabelledCompletion> Train, List<LabelledCompletion> HeldOut) ByPrompt(
        IReadOnlyList<LabelledCompletion> items, double heldOutShare, int seed)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (!(heldOutShare > 0 && heldOutShare < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutShare), heldOutShare, "the held-out share must be in (0, 1)");
        var prompts = items.Select(i => i.PromptId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        new Random(seed).Shuffle(prompts);
        var heldOut = prompts.Take((int)Math.Ceiling(heldOutShare * prompts.Length)).ToHashSet(StringComparer.Ordinal);
        var train = new List<LabelledCompletion>();
        var held = new List<LabelledCompletion>();
        foreach (var item in items) (heldOut.Contains(item.PromptId) ? held : train).Add(item);
        return (train, held);
    }
}

/// <summary>
/// RewardModelTrainer's schedule, replayed offline on a label stream: labels arrive in order, <see cref="LabelsPerLearnerStep"/>
/// per policy version; until <see cref="WarmupLabels"/> training labels exist each arrival is a new label batch trained
/// <see cref="StepsPerLabelBatch"/> steps, after that each policy version trains <see cref="StepsPerLearnerStep"/> steps.
/// Every step samples <see cref="BatchSize"/> labels with replacement from all training labels so far (all of them when
/// there are no more than that), as the trainer does.
/// </summary>
public sealed record TrainerSchedule(int StepsPerLabelBatch, int WarmupLabels, int StepsPerLearnerStep, int BatchSize, double LabelsPerLearnerStep)
{
    /// <summary>Replays the schedule on <paramref name="stream"/>; returns the gradient steps taken.</summary>
    public int Replay(IPointwiseRewardModel model, IReadOnlyList<PointLabel> stream, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stream);
        if (!(LabelsPerLearnerStep > 0)) throw new ArgumentOutOfRangeException(nameof(LabelsPerLearnerStep), LabelsPerLearnerStep, "must be > 0");
        var random = new Random(seed);
        var seen = new List<PointLabel>(stream.Count);
        var steps = 0;
        var arrived = 0.0;
        while (seen.Count < stream.Count)
        {
            arrived += LabelsPerLearnerStep;
            while (seen.Count < Math.Min(stream.Count, (int)Math.Round(arrived))) seen.Add(stream[seen.Count]);
            // Before warm-up the trainer steps on each label batch; after it, on each policy version.
            var k = seen.Count >= WarmupLabels ? StepsPerLearnerStep : StepsPerLabelBatch;
            for (var i = 0; i < k && seen.Count > 0; i++, steps++) model.TrainStep(Sample(seen, random));
        }
        return steps;
    }

    private List<PointLabel> Sample(List<PointLabel> from, Random random)
    {
        if (from.Count <= BatchSize) return [.. from];
        var batch = new List<PointLabel>(BatchSize);
        for (var i = 0; i < BatchSize; i++) batch.Add(from[random.Next(from.Count)]);
        return batch;
    }
}
