using System.Diagnostics;
using Pipeline.Oni.RewardModels;
using Xunit.Abstractions;

namespace Pipeline.Oni.Tests.RewardModels;

public class EmbeddingClassificationSpec(MiniLmFixture miniLm, ITestOutputHelper output) : IClassFixture<MiniLmFixture>
{
    private static readonly string[] Positive =
    [
        "I absolutely loved this movie, it was wonderful.",
        "What a fantastic day, everything went perfectly.",
        "The food was delicious and the staff were so friendly.",
        "This is the best book I have read in years.",
        "I am really happy with my new phone.",
        "The concert was amazing and the crowd was great.",
        "Our holiday was relaxing and beautiful.",
        "She did a brilliant job on the presentation.",
        "The service here is excellent, highly recommended.",
        "I feel great after that long walk in the sun.",
        "This little cafe is a delightful gem.",
        "The kids had a wonderful time at the park.",
        "Thank you so much, this gift is lovely.",
        "The new update made the app faster and nicer.",
        "I'm thrilled with the results of the project.",
        "The hotel room was spotless and comfortable.",
        "What a charming and funny film.",
        "He is the kindest and most helpful neighbour.",
        "The team played superbly and won the final.",
        "Dinner last night was a joy from start to finish.",
        "This tool works perfectly and saves me hours.",
        "I love the warm colours of this painting.",
        "The flight was smooth and the crew were pleasant.",
        "Such an inspiring and uplifting speech.",
        "My garden looks gorgeous this spring.",
        "The course was clear, engaging and very useful.",
        "I'm grateful for such supportive friends.",
        "The soup was tasty and perfectly seasoned.",
        "A truly enjoyable evening with great music.",
        "This jacket fits well and feels fantastic.",
    ];

    private static readonly string[] Negative =
    [
        "I hated this movie, it was a complete waste of time.",
        "What an awful day, everything went wrong.",
        "The food was cold and the staff were rude.",
        "This is the worst book I have ever read.",
        "I am really disappointed with my new phone.",
        "The concert was terrible and the sound was awful.",
        "Our holiday was stressful and miserable.",
        "She did a sloppy job on the presentation.",
        "The service here is dreadful, avoid it.",
        "I feel sick and exhausted after that trip.",
        "This cafe is dirty and overpriced.",
        "The kids were bored and cried all afternoon.",
        "This gift is ugly and broke after one day.",
        "The new update made the app slow and buggy.",
        "I'm furious about how the project failed.",
        "The hotel room was filthy and noisy.",
        "What a dull and painful film.",
        "He is the rudest and most annoying neighbour.",
        "The team played horribly and lost badly.",
        "Dinner last night was a disaster.",
        "This tool keeps crashing and wastes my time.",
        "I dislike the gloomy colours of this painting.",
        "The flight was delayed and the crew were unfriendly.",
        "Such a boring and depressing speech.",
        "My garden is dead and full of weeds.",
        "The course was confusing, tedious and useless.",
        "I'm upset that my friends let me down again.",
        "The soup was bland and far too salty.",
        "A truly unpleasant evening with terrible music.",
        "This jacket is itchy and falls apart.",
    ];

    private static (List<PointLabel> Train, List<PointLabel> HeldOut) Split()
    {
        var all = Positive.Select((t, i) => (Label: new PointLabel(t, 1.0), Index: i))
            .Concat(Negative.Select((t, i) => (Label: new PointLabel(t, 0.0), Index: i)))
            .ToList();
        // Every third sentence pair is held out (20 held out, 40 trained on).
        return (all.Where(x => x.Index % 3 != 0).Select(x => x.Label).ToList(),
                all.Where(x => x.Index % 3 == 0).Select(x => x.Label).ToList());
    }

    private static RewardModelOptions Opts => new()
    {
        Variant = RewardModelVariant.Classification,
        Features = FeatureKind.Embedding,
        Hidden = 64,
        LearningRate = 1e-2,
        Seed = 11,
    };

    [Fact]
    public void Learns_sentiment_over_MiniLM_embeddings_to_85_percent_and_encodes_each_text_once()
    {
        var counting = new CountingEncoder(miniLm.Encoder);
        using var rm = new ClassificationRewardModel(Opts, counting);
        Assert.Equal(384, rm.Featurizer.Dimension);
        var (train, heldOut) = Split();
        Assert.Equal(40, train.Count);
        Assert.Equal(20, heldOut.Count);

        var sw = Stopwatch.StartNew();
        var steps = Data.Batches(train, 16, 80, seed: 4).Select(rm.TrainStep).ToList();
        var trainMs = sw.ElapsedMilliseconds;
        Assert.Equal(40, counting.TextsEncoded); // 80 steps over 40 labels: each text encoded once

        var agreement = rm.Agreement(heldOut);
        output.WriteLine($"held-out agreement {agreement:P1}, loss {steps[0].Loss:F3} -> {steps[^1].Loss:F3}, " +
                         $"80 steps in {trainMs} ms, encoder calls {counting.Calls}");
        Assert.True(agreement >= 0.85, $"agreement {agreement:P1}");
        Assert.Equal(60, counting.TextsEncoded);

        // Scoring texts already seen (training or held-out) encodes nothing new; new texts are encoded once.
        var before = counting.TextsEncoded;
        rm.Score(heldOut.Select(l => l.Text).Concat(train.Select(l => l.Text)).ToList());
        Assert.Equal(before, counting.TextsEncoded);
        var s = rm.Score(["An absolutely delightful experience!", "An absolutely delightful experience!"]);
        Assert.Equal(before + 1, counting.TextsEncoded);
        Assert.True(s.Values[0] > 0.5, $"P(positive) {s.Values[0]}");
    }

    [Fact]
    public void Save_and_load_with_the_encoder_give_identical_scores_and_need_the_encoder()
    {
        using var tmp = new TempDir();
        var (train, heldOut) = Split();
        using var rm = new ClassificationRewardModel(Opts with { Output = RewardOutput.Decision }, miniLm.Encoder);
        foreach (var batch in Data.Batches(train, 16, 10, seed: 4)) rm.TrainStep(batch);
        rm.Save(tmp.Path);

        using var loaded = ClassificationRewardModel.Load(tmp.Path, miniLm.Encoder);
        var texts = heldOut.Select(l => l.Text).ToList();
        Assert.Equal(rm.Score(texts).Values, loaded.Score(texts).Values);
        Assert.Equal(rm.Probabilities(texts), loaded.Probabilities(texts));
        Assert.Throws<ArgumentException>(() => ClassificationRewardModel.Load(tmp.Path));
        Assert.Throws<InvalidDataException>(() => ClassificationRewardModel.Load(tmp.Path, new ToyEncoder(384)));
    }
}
