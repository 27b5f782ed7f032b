using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Oni.RewardModels;
using TorchSharp;

namespace Pipeline.Oni.Tests.RewardModels;

public class OptionsSpec
{
    [Fact]
    public void Torch_loads_and_creates_a_tensor()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(6f, torch.ones(2, 3).sum().item<float>());
    }

    [Fact]
    public void Defaults_are_as_documented()
    {
        var d = new RewardModelOptions();
        Assert.Equal(RewardModelVariant.Classification, d.Variant);
        Assert.Equal(FeatureKind.Embedding, d.Features);
        Assert.Equal(128, d.Hidden);
        Assert.Equal(1e-3, d.LearningRate);
        Assert.Equal(0.01, d.WeightDecay);
        Assert.Equal(32, d.BatchSize);
        Assert.Equal(0.5, d.LabelThreshold);
        Assert.Equal(RewardOutput.Probability, d.Output);
        Assert.Equal(0.5, d.DecisionThreshold);
        Assert.Equal(0.0, d.DefaultReward);
        Assert.Equal(100_000, d.MaxEntries);
        Assert.Null(d.QuantileFloor);
        Assert.Equal(2048, d.CharDim);
        Assert.Equal(0, d.Seed);
        Assert.Equal(0, d.TorchThreads);
        d.Validate();
    }

    [Fact]
    public void Reads_every_key_from_hocon()
    {
        var config = ConfigurationFactory.ParseString("""
            variant = ranking
            features = chars
            hidden = 0
            learning-rate = 0.02
            weight-decay = 0
            batch-size = 8
            max-grad-norm = 2.5
            label-threshold = 0.7
            output = decision
            decision-threshold = 0.6
            default-reward = -1
            max-entries = 10
            aggregate = mean
            class-balance = on
            pos-weight = 3
            normalize = off
            quantile-floor = 0.1
            quantile-window = 64
            char-dim = 512
            char-ngram-min = 2
            char-ngram-max = 4
            char-lowercase = on
            embedding-cache = 0
            seed = 42
            device = cpu
            torch-threads = 1
            """);
        var o = RewardModelOptions.FromConfig(config);
        Assert.Equal(new RewardModelOptions
        {
            Variant = RewardModelVariant.Ranking, Features = FeatureKind.Chars, Hidden = 0, LearningRate = 0.02, WeightDecay = 0,
            BatchSize = 8, MaxGradNorm = 2.5, LabelThreshold = 0.7, Output = RewardOutput.Decision, DecisionThreshold = 0.6,
            DefaultReward = -1, MaxEntries = 10, Aggregate = RetrievalAggregate.Mean, ClassBalance = true, PosWeight = 3,
            Normalize = false, QuantileFloor = 0.1, QuantileWindow = 64, CharDim = 512, CharNgramMin = 2, CharNgramMax = 4,
            CharLowercase = true, EmbeddingCache = 0, Seed = 42, Device = "cpu", TorchThreads = 1,
        }, o);
        Assert.Null(RewardModelOptions.FromConfig(ConfigurationFactory.ParseString("quantile-floor = off")).QuantileFloor);
        Assert.Equal(new RewardModelOptions(), RewardModelOptions.FromConfig(null));
    }

    [Theory]
    [InlineData("variant = regression", "variant")]
    [InlineData("learning-rate = fast", "learning-rate")]
    [InlineData("quantile-floor = 1.5", "quantile-floor")]
    [InlineData("hidden = -1", "hidden")]
    [InlineData("class-balance = maybe", "class-balance")]
    public void Bad_values_name_the_key(string hocon, string key)
    {
        var e = Assert.Throws<ConfigException>(() => RewardModelOptions.FromConfig(ConfigurationFactory.ParseString(hocon)));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void Text_hash_is_truncated_sha256_of_utf8()
    {
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223", TextHash.HexOf("abc"));
        Assert.Equal(TextHash.Of("é"), TextHash.Of("é"));
        Assert.NotEqual(TextHash.Of("a"), TextHash.Of("A"));
        Assert.Equal(TextHash.Of("abc"), TextHash.ParseHex(TextHash.HexOf("abc")));
        var longText = new string('x', 5000);
        Assert.Equal(TextHash.Of(longText), TextHash.Of(new string('x', 5000)));
    }

    [Fact]
    public void Char_featurizer_is_deterministic_normalised_and_sensitive_to_ngrams()
    {
        var f = new CharFeaturizer(256);
        var rows = f.Featurize(["SELECT a FROM b", "SELECT a FROM b", "zzz", ""]);
        Assert.Equal(4 * 256, rows.Length);
        Assert.Equal(rows.AsSpan(0, 256).ToArray(), rows.AsSpan(256, 256).ToArray());
        Assert.NotEqual(rows.AsSpan(0, 256).ToArray(), rows.AsSpan(512, 256).ToArray());
        for (var r = 0; r < 4; r++)
            Assert.Equal(1.0, Math.Sqrt(rows.AsSpan(r * 256, 256).ToArray().Sum(v => (double)v * v)), 5);
        var lower = new CharFeaturizer(256, lowercase: true);
        Assert.Equal(lower.Featurize(["ABC"]), lower.Featurize(["abc"]));
        Assert.NotEqual(f.Featurize(["ABC"]), f.Featurize(["abc"]));
    }

    [Fact]
    public void Factory_builds_the_variant_and_embedding_features_need_an_encoder()
    {
        Assert.IsType<RetrievalRewardModel>(RewardModelFactory.Create(new RewardModelOptions { Variant = RewardModelVariant.Retrieval }));
        using var c = (ClassificationRewardModel)RewardModelFactory.Create(new RewardModelOptions { Features = FeatureKind.Chars });
        using var r = (RankingRewardModel)RewardModelFactory.Create(new RewardModelOptions { Variant = RewardModelVariant.Ranking, Features = FeatureKind.Chars });
        Assert.Equal("classification", c.Variant);
        Assert.Equal("ranking", r.Variant);
        Assert.Throws<ArgumentException>(() => RewardModelFactory.Create(new RewardModelOptions()));
        using var e = (ClassificationRewardModel)RewardModelFactory.Create(new RewardModelOptions(), new ToyEncoder(8));
        Assert.Equal(8, e.Featurizer.Dimension);
    }

    [Fact]
    public void Running_mean_std_matches_the_two_pass_formulas()
    {
        var rng = new Random(1);
        var xs = Enumerable.Range(0, 1000).Select(_ => rng.NextDouble() * 10 - 3).ToArray();
        var s = new RunningMeanStd();
        foreach (var x in xs) s.Update(x);
        s.Update(double.NaN);
        var mean = xs.Average();
        Assert.Equal(1000, s.Count);
        Assert.Equal(mean, s.Mean, 10);
        Assert.Equal(Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / xs.Length), s.Std, 10);
        var w = new RecentWindow(4);
        foreach (var x in new double[] { 9, 1, 2, 3, 4 }) w.Add(x);
        Assert.Equal([1.0, 2, 3, 4], w.Values());
        Assert.Equal(1.75, w.Quantile(0.25), 12);
    }
}
