using System.Diagnostics;
using Pipeline.Oni.RewardModels;
using Xunit.Abstractions;

namespace Pipeline.Oni.Tests.RewardModels;

public class CharClassificationSpec(ITestOutputHelper output)
{
    private const int Steps = 60;

    private static RewardModelOptions Opts(RewardOutput output = RewardOutput.Probability, long seed = 7) => new()
    {
        Variant = RewardModelVariant.Classification,
        Features = FeatureKind.Chars,
        Hidden = 64,
        LearningRate = 3e-3,
        BatchSize = 32,
        Output = output,
        Seed = seed,
    };

    private static readonly List<PointLabel> Train = Data.SqlOrGarbage(240, seed: 1);
    private static readonly List<PointLabel> HeldOut = Data.SqlOrGarbage(120, seed: 2);

    private static List<RewardModelStep> Fit(ClassificationRewardModel rm, int steps = Steps) =>
        Data.Batches(Train, 32, steps, seed: 3).Select(rm.TrainStep).ToList();

    [Fact]
    public void Learns_select_from_versus_garbage_to_95_percent_held_out_agreement()
    {
        using var rm = new ClassificationRewardModel(Opts());
        var before = rm.Agreement(HeldOut);
        var sw = Stopwatch.StartNew();
        var steps = Fit(rm);
        var agreement = rm.Agreement(HeldOut);
        output.WriteLine($"held-out agreement {before:P1} -> {agreement:P1} after {Steps} steps ({sw.ElapsedMilliseconds} ms); " +
                         $"last loss {steps[^1].Loss:F4}, first {steps[0].Loss:F4}");
        Assert.All(steps, s => Assert.True(s.Applied));
        Assert.True(agreement >= 0.95, $"agreement {agreement:P1}");
        Assert.True(steps[^1].Loss < steps[0].Loss);
        Assert.Equal(Steps, rm.Version);
        Assert.Equal(0, rm.SkippedSteps);
    }

    [Fact]
    public void Untrained_model_scores_the_default_as_unknown()
    {
        using var rm = new ClassificationRewardModel(Opts() with { DefaultReward = 0.3 });
        var s = rm.Score(["SELECT a FROM b", "zzz"]);
        Assert.Equal([0.3, 0.3], s.Values);
        Assert.Equal([false, false], s.Known);
    }

    [Fact]
    public void Decision_output_is_the_thresholded_probability_and_same_seed_gives_same_model()
    {
        using var prob = new ClassificationRewardModel(Opts(RewardOutput.Probability));
        using var dec = new ClassificationRewardModel(Opts(RewardOutput.Decision));
        Fit(prob, 20);
        Fit(dec, 20);
        Assert.Equal(prob.WeightsSnapshot(), dec.WeightsSnapshot());

        var texts = HeldOut.Select(l => l.Text).ToList();
        var p = prob.Score(texts);
        var d = dec.Score(texts);
        Assert.All(p.Known, Assert.True);
        Assert.All(p.Values, v => Assert.InRange(v, 0.0, 1.0));
        Assert.Contains(p.Values, v => v is > 0.0 and < 1.0 and not 0.5);
        Assert.All(d.Values, v => Assert.True(v is 0.0 or 1.0));
        for (var i = 0; i < texts.Count; i++) Assert.Equal(p.Values[i] >= 0.5 ? 1.0 : 0.0, d.Values[i]);
        Assert.Contains(1.0, d.Values);
        Assert.Contains(0.0, d.Values);
    }

    [Fact]
    public void Different_seeds_give_different_initial_weights()
    {
        using var a = new ClassificationRewardModel(Opts(seed: 1));
        using var b = new ClassificationRewardModel(Opts(seed: 2));
        Assert.NotEqual(a.WeightsSnapshot(), b.WeightsSnapshot());
    }

    [Fact]
    public void Version_increments_per_successful_step_only()
    {
        using var rm = new ClassificationRewardModel(Opts());
        rm.TrainStep(Train.Take(8).ToList());
        rm.TrainStep(Train.Skip(8).Take(8).ToList());
        Assert.Equal(2, rm.Version);
        Assert.False(rm.TrainStep([]).Applied);
        var weights = rm.WeightsSnapshot();
        var bad = rm.TrainStep([new PointLabel("SELECT x FROM y", double.NaN), new PointLabel("junk", 0)]);
        Assert.False(bad.Applied);
        Assert.Contains("non-finite", bad.SkipReason);
        Assert.Equal(2, rm.Version);
        Assert.Equal(1, rm.SkippedSteps);
        Assert.Equal(weights, rm.WeightsSnapshot());
    }

    [Fact]
    public void Extreme_learning_rate_never_puts_non_finite_values_in_the_weights()
    {
        using var rm = new ClassificationRewardModel(Opts() with { LearningRate = 1e30, MaxGradNorm = 0 });
        var results = Data.Batches(Train, 32, 6, seed: 5).Select(rm.TrainStep).ToList();
        output.WriteLine(string.Join("; ", results.Select(r => $"{(r.Applied ? "ok" : r.SkipReason)} loss={r.Loss}")));
        Assert.True(rm.SkippedSteps >= 1, "expected at least one skipped step");
        Assert.Equal(6, rm.Version + rm.SkippedSteps);
        Assert.Equal(results.Count(r => r.Applied), rm.Version);
        Assert.True(rm.WeightsFinite());
        Assert.All(rm.WeightsSnapshot(), w => Assert.True(float.IsFinite(w)));
        Assert.NotNull(rm.LastSkipReason);
    }

    [Fact]
    public void Non_finite_features_give_a_non_finite_loss_that_is_skipped()
    {
        // The toy encoder returns NaN vectors for texts containing "NaN!": the loss is NaN, the step is skipped and counted.
        using var rm = new ClassificationRewardModel(Opts() with { Features = FeatureKind.Embedding }, new ToyEncoder());
        Assert.True(rm.TrainStep([new PointLabel("fine", 1), new PointLabel("also fine", 0)]).Applied);
        var weights = rm.WeightsSnapshot();
        var step = rm.TrainStep([new PointLabel("broken NaN!", 1), new PointLabel("fine", 1)]);
        Assert.False(step.Applied);
        Assert.True(double.IsNaN(step.Loss));
        Assert.StartsWith("non-finite loss", step.SkipReason);
        Assert.Equal(1, rm.SkippedSteps);
        Assert.Equal(1, rm.Version);
        Assert.Equal(weights, rm.WeightsSnapshot());
        var s = rm.Score(["broken NaN!", "fine"]);
        Assert.Equal([false, true], s.Known);
    }

    [Fact]
    public void Class_balance_weights_positives_by_the_negative_to_positive_ratio()
    {
        using var rm = new ClassificationRewardModel(Opts() with { ClassBalance = true });
        Assert.Equal(1.0, rm.CurrentPosWeight);
        rm.TrainStep([new PointLabel("SELECT a FROM b", 1), new PointLabel("x", 0), new PointLabel("y", 0.1), new PointLabel("z", 0.2)]);
        Assert.Equal(1, rm.Positives);
        Assert.Equal(3, rm.Negatives);
        Assert.Equal(3.0, rm.CurrentPosWeight);
        using var fixedWeight = new ClassificationRewardModel(Opts() with { PosWeight = 2.5 });
        Assert.Equal(2.5, fixedWeight.CurrentPosWeight);
    }

    [Fact]
    public void Save_and_load_give_identical_scores_and_identical_further_training()
    {
        using var tmp = new TempDir();
        using var rm = new ClassificationRewardModel(Opts() with { ClassBalance = true });
        Fit(rm, 15);
        rm.Save(tmp.Path);
        foreach (var f in new[] { RewardModelStore.MetaFile, RewardModelStore.WeightsFile, RewardModelStore.OptimizerFile })
            Assert.True(File.Exists(Path.Combine(tmp.Path, f)), f);

        using var loaded = ClassificationRewardModel.Load(tmp.Path);
        var texts = HeldOut.Select(l => l.Text).ToList();
        Assert.Equal(rm.Score(texts).Values, loaded.Score(texts).Values);
        Assert.Equal(rm.Version, loaded.Version);
        Assert.Equal(rm.Positives, loaded.Positives);
        Assert.Equal(rm.Negatives, loaded.Negatives);
        Assert.Equal(rm.Options, loaded.Options);

        // The optimizer state came back too: one more identical step keeps them identical.
        var batch = Train.Take(32).ToList();
        Assert.Equal(rm.TrainStep(batch).Loss, loaded.TrainStep(batch).Loss);
        Assert.Equal(rm.WeightsSnapshot(), loaded.WeightsSnapshot());
        Assert.Equal(rm.Score(texts).Values, loaded.Score(texts).Values);

        var meta = RewardModelStore.ReadMeta(tmp.Path);
        Assert.Equal("classification", meta.Variant);
        Assert.Equal(15, meta.Version);
        Assert.Contains("\"learning-rate\"", File.ReadAllText(Path.Combine(tmp.Path, RewardModelStore.MetaFile)));
        Assert.IsType<ClassificationRewardModel>(RewardModelFactory.Load(tmp.Path));
    }

    [Fact]
    public void Linear_head_works_and_saves_without_a_hidden_layer()
    {
        using var tmp = new TempDir();
        using var rm = new ClassificationRewardModel(Opts() with { Hidden = 0, LearningRate = 2e-2 });
        Fit(rm, 40);
        Assert.True(rm.Agreement(HeldOut) >= 0.9);
        rm.Save(tmp.Path);
        using var loaded = ClassificationRewardModel.Load(tmp.Path);
        var texts = HeldOut.Select(l => l.Text).ToList();
        // Same weights, same inputs; float32 reductions may sum in another order (seen once: 1e-8 apart), so not bit-equal.
        var (before, after) = (rm.Score(texts).Values.ToList(), loaded.Score(texts).Values.ToList());
        Assert.Equal(before.Count, after.Count);
        for (var i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i], 6);
    }
}
