using System.Diagnostics;
using Pipeline.Oni.RewardModels;
using Xunit.Abstractions;

namespace Pipeline.Oni.Tests.RewardModels;

public class RankingRewardModelSpec(ITestOutputHelper output)
{
    private static RewardModelOptions Opts(double? floor = null) => new()
    {
        Variant = RewardModelVariant.Ranking,
        Features = FeatureKind.Chars,
        Hidden = 64,
        LearningRate = 3e-3,
        Seed = 5,
        QuantileFloor = floor,
    };

    private static readonly List<PairLabel> Train = Data.ApplePairs(400, seed: 21);
    private static readonly List<PairLabel> HeldOut = Data.ApplePairs(200, seed: 22);

    private static List<RewardModelStep> Fit(RankingRewardModel rm, int steps = 80) =>
        Data.Batches(Train, 32, steps, seed: 23).Select(rm.TrainStep).ToList();

    private static List<string> ScoringTexts(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Data.KeywordText(rng, rng.Next(0, 7))).ToList();
    }

    [Fact]
    public void Learns_the_keyword_preference_to_90_percent_held_out_pair_agreement()
    {
        using var rm = new RankingRewardModel(Opts());
        var before = rm.Agreement(HeldOut);
        var sw = Stopwatch.StartNew();
        var steps = Fit(rm);
        var agreement = rm.Agreement(HeldOut);
        output.WriteLine($"held-out pair agreement {before:P1} -> {agreement:P1} ({sw.ElapsedMilliseconds} ms); " +
                         $"loss {steps[0].Loss:F4} -> {steps[^1].Loss:F4}; ties in held-out {HeldOut.Count(p => p.IsTie)}");
        Assert.Contains(HeldOut, p => p.IsTie);
        Assert.True(agreement >= 0.90, $"agreement {agreement:P1}");
        Assert.Equal(80, rm.Version);

        // More apples, higher raw reward (monotone on average).
        var rng = new Random(9);
        var means = Enumerable.Range(0, 7).Select(k => rm.Raw(Enumerable.Range(0, 20).Select(_ => Data.KeywordText(rng, k)).ToList()).Average()).ToArray();
        output.WriteLine("mean raw reward by apple count: " + string.Join(", ", means.Select(m => m.ToString("F2"))));
        Assert.True(means[6] > means[3] && means[3] > means[0]);
    }

    [Fact]
    public void Soft_labels_loss_is_binary_cross_entropy_of_the_margin_and_ties_are_excluded_from_accuracy()
    {
        using var rm = new RankingRewardModel(Opts());
        Fit(rm, 5);
        var rng = new Random(3);
        var batch = new List<PairLabel>
        {
            new(Data.KeywordText(rng, 5), Data.KeywordText(rng, 1), 1.0),
            new(Data.KeywordText(rng, 0), Data.KeywordText(rng, 4), 0.0),
            new(Data.KeywordText(rng, 2), Data.KeywordText(rng, 2), 0.5),
            new(Data.KeywordText(rng, 3), Data.KeywordText(rng, 2), 0.8),
        };
        var ra = rm.Raw(batch.Select(p => p.TextA).ToList());
        var rb = rm.Raw(batch.Select(p => p.TextB).ToList());
        double expected = 0;
        var hits = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            var m = ra[i] - rb[i];
            var sig = 1 / (1 + Math.Exp(-m));
            expected += -(batch[i].PreferA * Math.Log(sig) + (1 - batch[i].PreferA) * Math.Log(1 - sig));
            if (!batch[i].IsTie && (batch[i].PreferA > 0.5 ? m > 0 : m < 0)) hits++;
        }
        expected /= batch.Count;
        var step = rm.TrainStep(batch);
        Assert.True(step.Applied);
        Assert.Equal(expected, step.Loss, 4);
        Assert.Equal(hits / 3.0, step.Accuracy, 12);

        // A batch of ties only: the loss is at least ln 2 and the accuracy is undefined.
        var ties = rm.TrainStep([new PairLabel("a b", "c d", 0.5), new PairLabel("apple", "pear", 0.5)]);
        Assert.True(ties.Loss >= Math.Log(2) - 1e-6);
        Assert.True(double.IsNaN(ties.Accuracy));
        Assert.True(double.IsNaN(rm.Agreement([new PairLabel("a", "b", 0.5)])));
    }

    [Fact]
    public void Training_on_ties_pulls_the_two_rewards_together()
    {
        using var rm = new RankingRewardModel(Opts());
        Fit(rm, 40); // the model now clearly prefers more apples
        var pair = new PairLabel("apple apple apple apple the lazy dog", "the quick brown fox jumps over", 0.5);
        double Gap() => rm.Raw([pair.TextA])[0] - rm.Raw([pair.TextB])[0];
        var gap0 = Gap();
        for (var i = 0; i < 40; i++) rm.TrainStep([pair]);
        var gap1 = Gap();
        output.WriteLine($"r_A - r_B {gap0:F4} -> {gap1:F4}");
        Assert.True(gap0 > 1, $"gap before {gap0}");
        Assert.True(Math.Abs(gap1) < gap0 / 4, $"{gap0} -> {gap1}");
    }

    [Fact]
    public void Normaliser_gives_mean_zero_and_std_one_on_the_scores_it_has_seen()
    {
        using var rm = new RankingRewardModel(Opts());
        Assert.All(rm.Score(["apple"]).Known, Assert.False); // untrained: default, unknown
        Fit(rm, 30);
        var texts = ScoringTexts(300, seed: 31);
        for (var i = 0; i < 3; i++) rm.Score(texts.GetRange(i * 100, 100));
        Assert.Equal(300, rm.Normalizer.Count);

        var s = rm.Score(texts, updateStatistics: false);
        Assert.All(s.Known, Assert.True);
        var mean = s.Values.Average();
        var std = Math.Sqrt(s.Values.Sum(v => (v - mean) * (v - mean)) / s.Values.Length);
        output.WriteLine($"normalised mean {mean:E2}, std {std:F6}; raw mean {rm.Normalizer.Mean:F4}, raw std {rm.Normalizer.Std:F4}");
        Assert.InRange(mean, -1e-6, 1e-6);
        Assert.InRange(std, 1 - 1e-6, 1 + 1e-6);
        var raw = rm.Raw(texts);
        Assert.Equal(raw.Average(), rm.Normalizer.Mean, 9); // the running mean is the raw scores' mean
    }

    [Fact]
    public void Quantile_floor_raises_the_low_tail_to_the_quantile_and_keeps_the_rest()
    {
        const double q = 0.25;
        using var rm = new RankingRewardModel(Opts(floor: q));
        Fit(rm, 30);
        var texts = ScoringTexts(200, seed: 41).Distinct().ToList();
        var raw = rm.Raw(texts);
        var s = rm.Score(texts);
        var floor = rm.CurrentFloor;
        var n = rm.Normalizer;

        var sorted = raw.OrderBy(x => x).ToArray();
        var pos = q * (sorted.Length - 1);
        var expectedFloor = sorted[(int)pos] + (sorted[(int)pos + 1] - sorted[(int)pos]) * (pos - (int)pos);
        Assert.Equal(expectedFloor, floor, 9);

        var raised = 0;
        for (var i = 0; i < texts.Count; i++)
        {
            var unfloored = n.Normalize(raw[i]);
            if (raw[i] < floor)
            {
                raised++;
                Assert.Equal(n.Normalize(floor), s.Values[i], 9);
                Assert.True(s.Values[i] > unfloored);
            }
            else Assert.Equal(unfloored, s.Values[i], 9);
        }
        output.WriteLine($"{raised} of {texts.Count} raised to the floor {floor:F4}");
        Assert.InRange(raised, (int)(0.15 * texts.Count), (int)(0.3 * texts.Count));
        Assert.Equal(s.Values.Min(), n.Normalize(floor), 9);

        using var noFloor = new RankingRewardModel(Opts());
        Fit(noFloor, 30);
        Assert.True(double.IsNaN(noFloor.CurrentFloor));
        Assert.True(noFloor.Score(texts).Values.Min() < s.Values.Min());
    }

    [Fact]
    public void Nan_preference_is_a_non_finite_loss_step_skipped_and_counted()
    {
        using var rm = new RankingRewardModel(Opts());
        Fit(rm, 3);
        var weights = rm.WeightsSnapshot();
        var step = rm.TrainStep([new PairLabel("apple apple", "dog", double.NaN), new PairLabel("apple", "dog", 1)]);
        Assert.False(step.Applied);
        Assert.StartsWith("non-finite loss", step.SkipReason);
        Assert.Equal(1, rm.SkippedSteps);
        Assert.Equal(3, rm.Version);
        Assert.Equal(weights, rm.WeightsSnapshot());
        Assert.True(rm.WeightsFinite());
        Assert.Throws<ArgumentOutOfRangeException>(() => rm.TrainStep([new PairLabel("a", "b", 1.5)]));
    }

    [Fact]
    public void Save_and_load_keep_weights_normaliser_and_floor_window()
    {
        using var tmp = new TempDir();
        using var rm = new RankingRewardModel(Opts(floor: 0.1));
        Fit(rm, 20);
        var texts = ScoringTexts(120, seed: 51);
        rm.Score(texts.GetRange(0, 60));
        rm.Save(tmp.Path);

        using var loaded = RankingRewardModel.Load(tmp.Path);
        Assert.Equal(rm.Normalizer.State, loaded.Normalizer.State);
        Assert.Equal(rm.CurrentFloor, loaded.CurrentFloor);
        Assert.Equal(rm.Version, loaded.Version);
        var probe = texts.GetRange(60, 60);
        Assert.Equal(rm.Raw(probe), loaded.Raw(probe));
        Assert.Equal(rm.Score(probe).Values, loaded.Score(probe).Values);     // updates both the same way
        Assert.Equal(rm.Agreement(HeldOut), loaded.Agreement(HeldOut));
        var batch = Train.Take(32).ToList();
        Assert.Equal(rm.TrainStep(batch).Loss, loaded.TrainStep(batch).Loss);
        Assert.Equal(rm.WeightsSnapshot(), loaded.WeightsSnapshot());
        Assert.IsType<RankingRewardModel>(RewardModelFactory.Load(tmp.Path));
    }
}
