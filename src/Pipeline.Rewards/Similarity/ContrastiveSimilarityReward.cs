using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Rewards.Similarity;

/// <summary>
/// Contrastive semantic-similarity reward (after "Bridging the Semantic Gap: Contrastive Rewards for Multilingual
/// Text-to-SQL" and GRACE). For each completion c of a group:
/// <c>r = (cos(c, reference) - lambda * agg_n cos(c, n) + gamma * mean_j cos(c, c_j)) / temperature</c>,
/// where the reference is the prompt's gold answer, the negatives n are none, given with the prompt, or the most
/// similar references of other recently scored prompts (hard negatives), and c_j are the group's other completions.
/// All texts a group needs are encoded in one batched call through the cache, off the caller's thread.
/// A prompt without a reference gets invalid signals (never 0).
/// </summary>
public sealed class ContrastiveSimilarityReward : IRewardSource, IReportsMetrics, IDisposable
{
    private readonly ISentenceEncoder _encoder;
    private readonly IDisposable? _owned;
    private readonly object _poolLock = new();
    private readonly List<PoolEntry> _pool = []; // oldest first, at most HardNegativesPool entries, distinct prompts

    public ContrastiveSimilarityReward(string name, ISentenceEncoder encoder, SimilarityOptions options, EmbeddingCache? cache)
        : this(name, encoder, options, cache, owned: null) { }

    private ContrastiveSimilarityReward(string name, ISentenceEncoder encoder, SimilarityOptions options, EmbeddingCache? cache, IDisposable? owned)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Name = name;
        Options = options;
        Cache = cache ?? EmbeddingCache.Disabled;
        _encoder = new CachedEncoder(encoder, Cache);
        _owned = owned;

        var bound = 1.0 + (options.Negatives == NegativeSource.None ? 0 : options.Lambda) + Math.Abs(options.Consistency);
        Range = (-bound / options.Temperature, bound / options.Temperature);
    }

    /// <summary>Builds the encoder (embedded MiniLM or the configured model) and a cache of <c>cache-entries</c>; the source owns and disposes the encoder.</summary>
    public static ContrastiveSimilarityReward Create(string name, SimilarityOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var encoder = new OnnxSentenceEncoder(options.ToEncoderOptions(), warn);
        try
        {
            return new ContrastiveSimilarityReward(name, encoder, options, new EmbeddingCache(options.CacheEntries), encoder);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    public string Name { get; }
    public RewardSourceKind Kind => RewardSourceKind.Fast;
    public (double Min, double Max) Range { get; }
    public SimilarityOptions Options { get; }
    public EmbeddingCache Cache { get; }

    public void AddMetrics(IDictionary<string, double> data)
    {
        var (hits, misses) = (Cache.Hits, Cache.Misses);
        data[$"similarity/{Name}/cache_hit_rate"] = hits + misses > 0 ? hits / (double)(hits + misses) : double.NaN;
        data[$"similarity/{Name}/encoded"] = misses;
    }

    /// <summary>References currently held as hard-negative candidates (oldest first).</summary>
    public IReadOnlyList<string> HardNegativePool
    {
        get { lock (_poolLock) return _pool.Select(e => e.Text).ToArray(); }
    }

    public async Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        var clock = Stopwatch.StartNew();
        var rollouts = group.Rollouts;
        var n = rollouts.Length;
        if (n == 0) return [];

        var reference = group.Prompt.Reference;
        if (string.IsNullOrWhiteSpace(reference))
            return Invalid(n, $"prompt '{group.Prompt.Id}' has no reference (gold answer) to compare with", clock.Elapsed);

        // One batch: completions, then the reference, then any given negatives.
        var given = Options.Negatives == NegativeSource.Given ? GivenNegatives(group.Prompt) : [];
        var texts = new string[n + 1 + given.Length];
        for (var i = 0; i < n; i++) texts[i] = rollouts[i].CompletionText ?? string.Empty;
        texts[n] = reference;
        given.CopyTo(texts, n + 1);

        float[][] vectors;
        try
        {
            vectors = await Task.Run(() => _encoder.Encode(texts, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            return Invalid(n, $"encoding failed: {e.GetType().Name}: {e.Message}", clock.Elapsed);
        }
        cancellationToken.ThrowIfCancellationRequested();

        var referenceVector = vectors[n];
        float[][] negatives = Options.Negatives switch
        {
            NegativeSource.Given => vectors[(n + 1)..],
            NegativeSource.Hard => HardNegatives(group.Prompt.Id, reference, referenceVector),
            _ => [],
        };
        if (Options.Negatives == NegativeSource.Hard) Remember(group.Prompt.Id, reference, referenceVector);

        var gamma = Options.Consistency;
        var elapsed = clock.Elapsed;
        var signals = new RewardSignal[n];
        for (var i = 0; i < n; i++)
        {
            var c = vectors[i];
            var pos = Cos(c, referenceVector);
            var neg = 0.0;
            if (negatives.Length > 0)
            {
                neg = Options.NegativeAggregate == NegativeAggregate.Max ? double.NegativeInfinity : 0.0;
                foreach (var v in negatives)
                {
                    var s = Cos(c, v);
                    neg = Options.NegativeAggregate == NegativeAggregate.Max ? Math.Max(neg, s) : neg + s;
                }
                if (Options.NegativeAggregate == NegativeAggregate.Mean) neg /= negatives.Length;
            }
            var consistency = 0.0;
            if (gamma != 0 && n > 1)
            {
                for (var j = 0; j < n; j++)
                    if (j != i) consistency += Cos(c, vectors[j]);
                consistency /= n - 1;
            }
            var value = (pos - Options.Lambda * neg + gamma * consistency) / Options.Temperature;
            signals[i] = RewardSignal.Ok(Name, value, elapsed, Details(pos, negatives.Length, neg, gamma != 0 && n > 1 ? consistency : null));
        }
        return signals;
    }

    private string Details(double pos, int negatives, double neg, double? consistency)
    {
        var sb = new StringBuilder(48);
        sb.Append(CultureInfo.InvariantCulture, $"pos={pos:F2}");
        if (Options.Negatives == NegativeSource.None) { }
        else if (negatives == 0) sb.Append(" neg=none");
        else sb.Append(CultureInfo.InvariantCulture, $" neg={neg:F2} (n={negatives})");
        if (consistency is { } cons) sb.Append(CultureInfo.InvariantCulture, $" cons={cons:F2}");
        return sb.ToString();
    }

    private string[] GivenNegatives(Prompt prompt)
    {
        var raw = prompt.Tag(Options.NegativesTag);
        return raw.Length == 0
            ? []
            : raw.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>The top-k pool references most similar to this prompt's reference, from other prompts with a different reference.</summary>
    private float[][] HardNegatives(string promptId, string reference, float[] referenceVector)
    {
        List<(double Score, float[] Vector)> candidates;
        lock (_poolLock)
        {
            candidates = new List<(double, float[])>(_pool.Count);
            foreach (var e in _pool)
                if (e.PromptId != promptId && e.Text != reference)
                    candidates.Add((Cos(referenceVector, e.Vector), e.Vector));
        }
        candidates.Sort(static (a, b) => b.Score.CompareTo(a.Score));
        var k = Math.Min(Options.HardNegativesTopK, candidates.Count);
        var result = new float[k][];
        for (var i = 0; i < k; i++) result[i] = candidates[i].Vector;
        return result;
    }

    private void Remember(string promptId, string reference, float[] vector)
    {
        if (Options.HardNegativesPool == 0) return;
        lock (_poolLock)
        {
            _pool.RemoveAll(e => e.PromptId == promptId);
            if (_pool.Count >= Options.HardNegativesPool) _pool.RemoveAt(0);
            _pool.Add(new PoolEntry(promptId, reference, vector));
        }
    }

    /// <summary>Cosine of two unit vectors, clamped to [-1, 1] so float rounding cannot leave the declared range.</summary>
    private static double Cos(float[] a, float[] b) => Math.Clamp(TensorPrimitives.Dot<float>(a, b), -1.0, 1.0);

    private IReadOnlyList<RewardSignal> Invalid(int n, string reason, TimeSpan latency)
    {
        var signals = new RewardSignal[n];
        for (var i = 0; i < n; i++) signals[i] = RewardSignal.Invalid(Name, reason, latency);
        return signals;
    }

    public void Dispose() => _owned?.Dispose();

    private sealed record PoolEntry(string PromptId, string Text, float[] Vector);
}
