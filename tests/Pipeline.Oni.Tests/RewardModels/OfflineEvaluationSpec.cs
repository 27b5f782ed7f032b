using Pipeline.Oni.RewardModels;

namespace Pipeline.Oni.Tests.RewardModels;

public class OfflineEvaluationSpec
{
    private static List<LabelledCompletion> Items(int prompts, int perPrompt) =>
        [.. Enumerable.Range(0, prompts).SelectMany(p => Enumerable.Range(0, perPrompt).Select(c => new LabelledCompletion($"p{p}", $"question {p}", $"answer {c}", c % 3 == 0 ? 1 : 0)))];

    [Fact]
    public void The_prompt_split_puts_no_prompt_on_both_sides_and_holds_out_the_asked_share_of_prompts()
    {
        var items = Items(40, 5);
        var (train, heldOut) = PromptSplit.ByPrompt(items, 0.25, seed: 3);

        var trainPrompts = train.Select(i => i.PromptId).ToHashSet();
        var heldOutPrompts = heldOut.Select(i => i.PromptId).ToHashSet();
        Assert.Empty(trainPrompts.Intersect(heldOutPrompts));
        Assert.Equal(10, heldOutPrompts.Count);
        Assert.Equal(items.Count, train.Count + heldOut.Count);
        Assert.Equal(heldOutPrompts, PromptSplit.ByPrompt(items, 0.25, seed: 3).HeldOut.Select(i => i.PromptId).ToHashSet());
    }

    [Fact]
    public void A_held_out_share_outside_zero_to_one_is_refused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => PromptSplit.ByPrompt(Items(2, 2), 1.0, seed: 1));
        Assert.Contains("held-out share", e.Message);
    }

    private sealed class CountingModel : IPointwiseRewardModel
    {
        public List<int> Batches { get; } = [];
        public string Variant => "counting";
        public long Version => Batches.Count;
        public RewardModelScore Score(IReadOnlyList<string> texts) => new(new double[texts.Count], new bool[texts.Count]);
        public void Save(string dir) { }
        public RewardModelStep TrainStep(IReadOnlyList<PointLabel> batch) { Batches.Add(batch.Count); return new(0, 0, true, null); }
        public double Agreement(IReadOnlyList<PointLabel> heldOut) => double.NaN;
        public HeldOutMetrics Evaluate(IReadOnlyList<PointLabel> heldOut) => HeldOutMetrics.Empty;
    }

    [Fact]
    public void The_schedule_replays_k_steps_per_label_batch_before_warmup_and_m_per_policy_version_after()
    {
        var model = new CountingModel();
        var stream = Enumerable.Range(0, 10).Select(i => new PointLabel($"t{i}", i % 2)).ToList();

        // Two labels per version: 2 labels (< warm-up 4): k = 2 steps; then 4, 6, 8, 10 labels: m = 3 steps each.
        var steps = new TrainerSchedule(StepsPerLabelBatch: 2, WarmupLabels: 4, StepsPerLearnerStep: 3, BatchSize: 3, LabelsPerLearnerStep: 2)
            .Replay(model, stream, seed: 1);

        Assert.Equal(2 + 4 * 3, steps);
        Assert.Equal([2, 2, 3, 3, 3], model.Batches.Take(5)); // all labels while no more than the batch size, then batch-size samples
        Assert.All(model.Batches.Skip(2), b => Assert.Equal(3, b));
    }
}
