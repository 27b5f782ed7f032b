using Pipeline.Rewards.Similarity;

namespace Pipeline.Rewards.Tests.Similarity;

public sealed class EmbeddingCacheSimilarityTests
{
    /// <summary>A fake encoder: vector = [hash-ish of the text], records what it was asked for.</summary>
    private sealed class FakeEncoder : ISentenceEncoder
    {
        public List<string[]> Calls { get; } = [];
        public string ModelName => "fake";
        public int Dimension => 2;
        public float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken)
        {
            Calls.Add(texts.ToArray());
            return texts.Select(t => new float[] { t.Length, t.Length == 0 ? 0 : t[0] }).ToArray();
        }
    }

    private static UInt128 K(string text) => EmbeddingCache.Key("m", text);

    [Fact]
    public void Hits_and_misses_are_counted_and_the_least_recently_used_entry_is_evicted()
    {
        var cache = new EmbeddingCache(2);
        Assert.False(cache.TryGet(K("a"), out _));
        cache.Set(K("a"), [1]);
        cache.Set(K("b"), [2]);
        Assert.True(cache.TryGet(K("a"), out var a)); // a is now the most recent
        Assert.Equal([1f], a);
        cache.Set(K("c"), [3]);                       // evicts b
        Assert.False(cache.TryGet(K("b"), out _));
        Assert.True(cache.TryGet(K("a"), out _));
        Assert.True(cache.TryGet(K("c"), out _));
        Assert.Equal(2, cache.Count);
        Assert.Equal(3, cache.Hits);
        Assert.Equal(2, cache.Misses);
        Assert.Equal(1, cache.Evictions);
    }

    [Fact]
    public void Keys_depend_on_model_and_text()
    {
        Assert.Equal(EmbeddingCache.Key("m", "SELECT 1"), EmbeddingCache.Key("m", "SELECT 1"));
        Assert.NotEqual(EmbeddingCache.Key("m", "SELECT 1"), EmbeddingCache.Key("m", "SELECT 2"));
        Assert.NotEqual(EmbeddingCache.Key("m1", "x"), EmbeddingCache.Key("m2", "x"));
        Assert.NotEqual(EmbeddingCache.Key("ab", "c"), EmbeddingCache.Key("a", "bc"));
        var longText = new string('q', 5000);
        Assert.NotEqual(EmbeddingCache.Key("m", longText), EmbeddingCache.Key("m", longText + "!"));
    }

    [Fact]
    public void A_zero_capacity_cache_keeps_nothing()
    {
        var cache = new EmbeddingCache(0);
        cache.Set(K("a"), [1]);
        Assert.False(cache.TryGet(K("a"), out _));
        Assert.Equal(0, cache.Count);
        Assert.False(cache.Enabled);
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddingCache(-1));
    }

    [Fact]
    public void Concurrent_use_stays_within_capacity_and_counts_every_lookup()
    {
        var cache = new EmbeddingCache(100);
        Parallel.For(0, 8, worker =>
        {
            for (var i = 0; i < 2000; i++)
            {
                // A hot set of 50 keys that fits, plus a stream of cold keys that forces evictions.
                var key = K(i % 3 == 0 ? "cold" + (worker * 2000 + i) : "hot" + i % 50);
                if (!cache.TryGet(key, out _)) cache.Set(key, [i]);
            }
        });
        Assert.True(cache.Count <= 100);
        Assert.Equal(16_000, cache.Hits + cache.Misses);
        Assert.True(cache.Hits > 8_000, $"hits {cache.Hits}");
        Assert.True(cache.Evictions > 0);
    }

    [Fact]
    public void Cached_encoder_encodes_only_the_distinct_misses_in_one_call()
    {
        var inner = new FakeEncoder();
        var cache = new EmbeddingCache(10);
        var encoder = new CachedEncoder(inner, cache);

        var first = encoder.Encode(["aa", "b", "aa"], CancellationToken.None);
        Assert.Equal(["aa", "b"], Assert.Single(inner.Calls));
        Assert.Equal([2f, 'a'], first[0]);
        Assert.Equal([1f, 'b'], first[1]);
        Assert.Same(first[0], first[2]);

        var second = encoder.Encode(["b", "ccc", "aa"], CancellationToken.None);
        Assert.Equal(2, inner.Calls.Count);
        Assert.Equal(["ccc"], inner.Calls[1]);
        Assert.Equal([3f, 'c'], second[1]);
        Assert.Same(first[1], second[0]);

        encoder.Encode(["ccc", "aa"], CancellationToken.None);
        Assert.Equal(2, inner.Calls.Count); // all hits: nothing encoded
        Assert.Equal(4, cache.Hits);
        Assert.Equal(4, cache.Misses);
    }

    [Fact]
    public void Cached_encoder_with_a_disabled_cache_passes_everything_through()
    {
        var inner = new FakeEncoder();
        var encoder = new CachedEncoder(inner, EmbeddingCache.Disabled);
        encoder.Encode(["a", "a"], CancellationToken.None);
        encoder.Encode(["a"], CancellationToken.None);
        Assert.Equal(3, inner.Calls.Sum(c => c.Length));
    }
}
