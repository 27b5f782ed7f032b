using System.Collections.Immutable;
using Pipeline.Core.Rewards;
using Pipeline.Rewards.Similarity;

namespace Pipeline.Rewards.Tests.Similarity;

[Collection(MiniLmCollection.Name)]
public sealed class ContrastiveSimilarityRewardTests(MiniLmFixture fixture)
{
    private const string GoldA = "SELECT name FROM employees WHERE salary > 50000 ORDER BY name";
    private const string WrongA = "DELETE FROM orders WHERE shipped = 0";
    private const string GoldB = "SELECT COUNT(*) FROM orders WHERE status = 'shipped'";

    private ContrastiveSimilarityReward Source(SimilarityOptions options, EmbeddingCache? cache = null, ISentenceEncoder? encoder = null)
        => new("similarity", encoder ?? fixture.Encoder, options, cache ?? new EmbeddingCache(1000));

    [Fact]
    public async Task A_completion_equal_to_the_gold_query_scores_higher_than_a_wrong_query()
    {
        var source = Source(new SimilarityOptions { Negatives = NegativeSource.None });
        var signals = await source.ScoreAsync(Groups.Make("a", GoldA, [GoldA, WrongA]), CancellationToken.None);

        Assert.Equal(2, signals.Count);
        Assert.All(signals, s => Assert.True(s.Valid));
        Assert.All(signals, s => Assert.Equal("similarity", s.Source));
        Assert.Equal(1.0, signals[0].Value, 3);
        Assert.True(signals[0].Value > signals[1].Value + 0.3, $"gold {signals[0].Value:F3} vs wrong {signals[1].Value:F3}");
        Assert.Equal("pos=1.00", signals[0].Details);
        Assert.Equal(RewardSourceKind.Fast, source.Kind);
    }

    [Fact]
    public async Task A_hard_negative_lowers_the_score_of_a_completion_matching_another_groups_reference()
    {
        var options = new SimilarityOptions { Negatives = NegativeSource.Hard, Lambda = 0.5 };
        var hard = Source(options);
        var plain = Source(options with { Negatives = NegativeSource.None });

        // Group A is scored first: its reference enters the hard-negative pool.
        await hard.ScoreAsync(Groups.Make("a", GoldA, [GoldA]), CancellationToken.None);
        Assert.Equal([GoldA], hard.HardNegativePool);

        // Group B: one completion is A's gold (wrong for B), one is B's gold.
        var groupB = Groups.Make("b", GoldB, [GoldA, GoldB]);
        var withNegatives = await hard.ScoreAsync(groupB, CancellationToken.None);
        var without = await plain.ScoreAsync(groupB, CancellationToken.None);

        // The completion equal to A's reference: neg = cos(GoldA, GoldA) = 1, so it loses lambda * 1.
        Assert.Equal(without[0].Value - 0.5, withNegatives[0].Value, 3);
        Assert.StartsWith("pos=", withNegatives[0].Details);
        Assert.Contains("neg=1.00 (n=1)", withNegatives[0].Details);
        // B's own gold is penalised far less, so the gap between them grows.
        Assert.True(without[1].Value - withNegatives[1].Value < 0.5 * 0.9);
        Assert.True(withNegatives[1].Value - withNegatives[0].Value > without[1].Value - without[0].Value + 0.1);
        Assert.Equal([GoldA, GoldB], hard.HardNegativePool);
    }

    [Fact]
    public async Task Hard_negatives_never_include_the_current_prompts_own_reference()
    {
        var source = Source(new SimilarityOptions { Negatives = NegativeSource.Hard });
        await source.ScoreAsync(Groups.Make("a", GoldA, [GoldA]), CancellationToken.None);
        var again = await source.ScoreAsync(Groups.Make("a", GoldA, [GoldA]), CancellationToken.None);
        Assert.Equal(1.0, again[0].Value, 3);
        Assert.Equal("pos=1.00 neg=none", again[0].Details);
        Assert.Single(source.HardNegativePool);
    }

    [Fact]
    public async Task The_hard_negative_pool_is_bounded_and_only_the_top_k_most_similar_are_used()
    {
        var source = Source(new SimilarityOptions { Negatives = NegativeSource.Hard, HardNegativesPool = 3, HardNegativesTopK = 2, NegativeAggregate = NegativeAggregate.Mean });
        string[] references = ["the weather is sunny today", "SELECT id FROM users", "SELECT name FROM employees WHERE salary > 40000", "a kitten sleeps on the sofa"];
        for (var i = 0; i < references.Length; i++)
            await source.ScoreAsync(Groups.Make("p" + i, references[i], ["x"]), CancellationToken.None);
        Assert.Equal(references[1..], source.HardNegativePool);

        var signals = await source.ScoreAsync(Groups.Make("q", GoldA, [GoldA]), CancellationToken.None);
        Assert.Contains("(n=2)", signals[0].Details);
    }

    [Fact]
    public async Task Given_negatives_come_from_the_prompt_tag()
    {
        var source = Source(new SimilarityOptions { Negatives = NegativeSource.Given, Lambda = 1.0 });
        var tags = ImmutableDictionary<string, string>.Empty.Add("negatives", WrongA + "\n" + GoldB + "\n");
        var withTag = await source.ScoreAsync(Groups.Make("a", GoldA, [WrongA, GoldA], tags), CancellationToken.None);
        var withoutTag = await source.ScoreAsync(Groups.Make("a", GoldA, [WrongA, GoldA]), CancellationToken.None);

        Assert.Contains("neg=1.00 (n=2)", withTag[0].Details);  // the wrong query is itself a given negative
        Assert.True(withTag[0].Value < withoutTag[0].Value - 0.9);
        Assert.Equal("pos=1.00 neg=none", withoutTag[1].Details);
        Assert.True(withTag[1].Value > withTag[0].Value);
    }

    [Fact]
    public async Task A_prompt_without_a_reference_gets_invalid_signals_naming_the_reason()
    {
        var source = Source(new SimilarityOptions());
        var signals = await source.ScoreAsync(Groups.Make("nogold", null, [GoldA, WrongA, ""]), CancellationToken.None);
        Assert.Equal(3, signals.Count);
        Assert.All(signals, s =>
        {
            Assert.False(s.Valid);
            Assert.True(double.IsNaN(s.Value));
            Assert.Contains("no reference", s.Details);
            Assert.Contains("nogold", s.Details);
        });
        var blank = await source.ScoreAsync(Groups.Make("blank", "  ", [GoldA]), CancellationToken.None);
        Assert.False(Assert.Single(blank).Valid);
    }

    [Fact]
    public async Task A_group_is_encoded_in_one_batched_call_and_a_second_call_encodes_nothing_new()
    {
        var recording = new RecordingEncoder(fixture.Encoder);
        var cache = new EmbeddingCache(100);
        var source = Source(new SimilarityOptions { Negatives = NegativeSource.Given }, cache, recording);
        var tags = ImmutableDictionary<string, string>.Empty.Add("negatives", WrongA);
        var group = Groups.Make("a", GoldA, [GoldA + " ", WrongA + " LIMIT 1", "SELECT 1"], tags);

        var first = await source.ScoreAsync(group, CancellationToken.None);
        var call = Assert.Single(recording.Calls);
        Assert.Equal(5, call.Length); // 3 completions + reference + 1 given negative
        Assert.Equal(0, cache.Hits);
        Assert.Equal(5, cache.Misses);

        var second = await source.ScoreAsync(group, CancellationToken.None);
        Assert.Single(recording.Calls); // nothing new went to the encoder
        Assert.Equal(5, cache.Hits);
        Assert.Equal(first.Select(s => s.Value), second.Select(s => s.Value));
    }

    [Fact]
    public async Task Values_stay_inside_the_declared_range()
    {
        var options = new SimilarityOptions { Negatives = NegativeSource.Hard, Lambda = 0.5, Temperature = 0.5, Consistency = 0.25 };
        var source = Source(options);
        Assert.Equal((-3.5, 3.5), source.Range);
        Assert.Equal((-1.0, 1.0), Source(new SimilarityOptions { Negatives = NegativeSource.None, Lambda = 3 }).Range);

        await source.ScoreAsync(Groups.Make("b", GoldB, [GoldB]), CancellationToken.None);
        var signals = await source.ScoreAsync(Groups.Make("a", GoldA, [GoldA, GoldB, "", "completely unrelated prose about gardening"]), CancellationToken.None);
        Assert.All(signals, s => Assert.InRange(s.Value, source.Range.Min, source.Range.Max));
        Assert.All(signals, s => Assert.Contains(" cons=", s.Details));
    }

    [Fact]
    public async Task The_consistency_term_rewards_agreement_with_the_rest_of_the_group()
    {
        var plain = Source(new SimilarityOptions { Negatives = NegativeSource.None });
        var consistent = Source(new SimilarityOptions { Negatives = NegativeSource.None, Consistency = 1.0 });
        var group = Groups.Make("a", GoldA, ["SELECT name FROM employees", "SELECT name FROM employees WHERE salary > 1", "the weather is nice"]);
        var p = await plain.ScoreAsync(group, CancellationToken.None);
        var c = await consistent.ScoreAsync(group, CancellationToken.None);
        var gainAgreeing = c[0].Value - p[0].Value;
        var gainOutlier = c[2].Value - p[2].Value;
        Assert.True(gainAgreeing > gainOutlier + 0.2, $"agreeing +{gainAgreeing:F3}, outlier +{gainOutlier:F3}");
    }

    [Fact]
    public async Task Scoring_runs_off_the_callers_thread_and_honours_cancellation()
    {
        using var gate = new ManualResetEventSlim(false);
        var recording = new RecordingEncoder(fixture.Encoder)
        {
            OnEncode = () => { if (!gate.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("gate never opened"); },
        };
        var source = Source(new SimilarityOptions { Negatives = NegativeSource.None }, EmbeddingCache.Disabled, recording);

        var pending = source.ScoreAsync(Groups.Make("a", GoldA, [GoldA]), CancellationToken.None);
        Assert.False(pending.IsCompleted); // the encoder is blocked, yet the call returned
        gate.Set();
        Assert.True((await pending)[0].Valid);

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => source.ScoreAsync(Groups.Make("b", GoldB, [GoldB]), cts.Token));
    }

    [Fact]
    public void Bad_options_are_refused_naming_the_key()
    {
        var e = Assert.Throws<ArgumentException>(() => Source(new SimilarityOptions { Temperature = 0 }));
        Assert.Contains("temperature", e.Message);
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => Source(new SimilarityOptions { Lambda = -1 })).Message);
    }

    [Fact]
    public async Task Create_builds_the_embedded_encoder_and_a_cache_from_the_options()
    {
        using var source = ContrastiveSimilarityReward.Create("sim", new SimilarityOptions { CacheEntries = 5, Negatives = NegativeSource.None });
        Assert.Equal("sim", source.Name);
        Assert.Equal(5, source.Cache.Capacity);
        var signals = await source.ScoreAsync(Groups.Make("a", GoldA, [GoldA]), CancellationToken.None);
        Assert.Equal(1.0, signals[0].Value, 3);
    }
}
