using Pipeline.Rewards.Similarity;

namespace Pipeline.Oni.RewardModels;

/// <summary>Turns texts into fixed-size float feature rows for the torch reward models.</summary>
public interface IFeaturizer
{
    /// <summary><c>embedding</c> or <c>chars</c>.</summary>
    FeatureKind Kind { get; }

    int Dimension { get; }

    /// <summary>What the features are computed by (encoder model name, or the n-gram settings); saved models check it on load.</summary>
    string Identity { get; }

    /// <summary>Row-major [texts.Count, Dimension] features.</summary>
    float[] Featurize(IReadOnlyList<string> texts);
}

/// <summary>
/// Hashed character n-grams (ngram-min..ngram-max, default 1..3) of the text framed by start/end marks, counted into a
/// bag of <see cref="Dimension"/> buckets (64-bit FNV-1a of the n-gram and its length, modulo the size), then sublinear
/// (1 + ln count) and L2-normalised. Deterministic across processes; no model needed. Texts longer than
/// <see cref="MaxChars"/> are cut there. Stateless, thread-safe.
/// </summary>
public sealed class CharFeaturizer : IFeaturizer
{
    public const int MaxChars = 8192;
    private const char Start = '\u0002', End = '\u0003';

    public CharFeaturizer(int dimension = 2048, int ngramMin = 1, int ngramMax = 3, bool lowercase = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ngramMin, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ngramMax, ngramMin);
        Dimension = dimension;
        NgramMin = ngramMin;
        NgramMax = ngramMax;
        Lowercase = lowercase;
    }

    public FeatureKind Kind => FeatureKind.Chars;
    public int Dimension { get; }
    public int NgramMin { get; }
    public int NgramMax { get; }
    public bool Lowercase { get; }
    public string Identity => $"chars:{Dimension}:{NgramMin}-{NgramMax}:{(Lowercase ? "lower" : "cased")}";

    public float[] Featurize(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var result = new float[(long)texts.Count * Dimension];
        for (var i = 0; i < texts.Count; i++) Row(texts[i] ?? "", result.AsSpan(i * Dimension, Dimension));
        return result;
    }

    private void Row(string text, Span<float> row)
    {
        if (text.Length > MaxChars) text = text[..MaxChars];
        if (Lowercase) text = text.ToLowerInvariant();
        var framed = string.Concat(Start.ToString(), text, End.ToString());
        for (var i = 0; i < framed.Length; i++)
        {
            for (var n = NgramMin; n <= NgramMax && i + n <= framed.Length; n++)
            {
                var h = 14695981039346656037UL ^ (ulong)n;
                h *= 1099511628211UL;
                for (var k = i; k < i + n; k++)
                {
                    var c = framed[k];
                    h = (h ^ (byte)c) * 1099511628211UL;
                    h = (h ^ (byte)(c >> 8)) * 1099511628211UL;
                }
                row[(int)(h % (ulong)Dimension)] += 1f;
            }
        }
        double norm = 0;
        for (var j = 0; j < row.Length; j++)
        {
            if (row[j] == 0) continue;
            row[j] = 1f + MathF.Log(row[j]);
            norm += (double)row[j] * row[j];
        }
        if (norm <= 0) return;
        var inv = (float)(1.0 / Math.Sqrt(norm));
        for (var j = 0; j < row.Length; j++) row[j] *= inv;
    }
}

/// <summary>
/// Frozen sentence embeddings from an <see cref="ISentenceEncoder"/> (the similarity reward's encoder; all-MiniLM-L6-v2,
/// 384 dims, by default), cached in a bounded LRU <see cref="EmbeddingCache"/> keyed by encoder model + text so that
/// training again on the same labels, or scoring a text that is later labelled, does not re-encode it. The texts a
/// call misses are encoded in ONE encoder call (duplicates once).
/// </summary>
public sealed class EmbeddingFeaturizer : IFeaturizer
{
    private readonly ISentenceEncoder _encoder;
    private long _encoded;

    public EmbeddingFeaturizer(ISentenceEncoder encoder, int cacheEntries = 50_000)
    {
        _encoder = encoder ?? throw new ArgumentNullException(nameof(encoder));
        if (encoder.Dimension < 1) throw new ArgumentException($"encoder '{encoder.ModelName}' reports dimension {encoder.Dimension}");
        Cache = new EmbeddingCache(cacheEntries);
    }

    public FeatureKind Kind => FeatureKind.Embedding;
    public int Dimension => _encoder.Dimension;
    public string Identity => $"embedding:{_encoder.ModelName}:{_encoder.Dimension}";
    public string EncoderModel => _encoder.ModelName;
    public EmbeddingCache Cache { get; }

    /// <summary>Texts sent to the encoder so far (cache misses, each distinct text once per call).</summary>
    public long EncodedTexts => Interlocked.Read(ref _encoded);

    public float[] Featurize(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var dim = Dimension;
        var result = new float[(long)texts.Count * dim];
        var keys = new UInt128[texts.Count];
        var missing = new Dictionary<UInt128, List<int>>();
        var missingKeys = new List<UInt128>();
        var missingTexts = new List<string>();
        for (var i = 0; i < texts.Count; i++)
        {
            var text = texts[i] ?? "";
            keys[i] = EmbeddingCache.Key(_encoder.ModelName, text);
            if (missing.TryGetValue(keys[i], out var rows))
            {
                rows.Add(i);
                continue;
            }
            if (Cache.TryGet(keys[i], out var cached))
            {
                cached.AsSpan().CopyTo(result.AsSpan(i * dim, dim));
                continue;
            }
            missing[keys[i]] = [i];
            missingKeys.Add(keys[i]);
            missingTexts.Add(text);
        }
        if (missingTexts.Count == 0) return result;

        var vectors = _encoder.Encode(missingTexts, CancellationToken.None);
        if (vectors.Length != missingTexts.Count)
            throw new InvalidOperationException($"encoder '{_encoder.ModelName}' returned {vectors.Length} vectors for {missingTexts.Count} texts");
        Interlocked.Add(ref _encoded, missingTexts.Count);
        for (var m = 0; m < missingKeys.Count; m++)
        {
            var v = vectors[m];
            var rows = missing[missingKeys[m]];
            if (v is null || v.Length != dim)
                throw new InvalidOperationException($"encoder '{_encoder.ModelName}' returned a {v?.Length ?? 0}-dim vector; {dim} expected");
            // A broken (non-finite) vector is used once (the model skips or defaults on it) but never cached.
            if (Array.TrueForAll(v, float.IsFinite)) Cache.Set(missingKeys[m], v);
            foreach (var row in rows) v.AsSpan().CopyTo(result.AsSpan(row * dim, dim));
        }
        return result;
    }
}

/// <summary>
/// Features of a (prompt, completion) pair (texts made by <see cref="RewardModelInputs.Text"/>; a text without a prompt part
/// has an empty prompt), for labels that depend on both, such as "does this SQL answer this question". Three blocks, each
/// L2-normalised: the completion's hashed character n-grams (<see cref="CharFeaturizer"/>, <c>char-dim</c>); hashed
/// (prompt word, completion word) crosses (<c>char-dim</c> buckets, words lower-cased); and <see cref="OverlapCount"/> literal
/// overlap rates (which of the prompt's numbers, quoted strings and capitalised names the completion copies, and which of
/// its own it invents). Task-agnostic; deterministic across processes; stateless, thread-safe.
/// </summary>
public sealed partial class PairFeaturizer : IFeaturizer
{
    public const int OverlapCount = 8;
    private readonly CharFeaturizer _completion;
    private readonly int _crossDim;

    public PairFeaturizer(int dimension = 2048, int ngramMin = 1, int ngramMax = 3, bool lowercase = false)
    {
        _completion = new CharFeaturizer(dimension, ngramMin, ngramMax, lowercase);
        _crossDim = dimension;
    }

    public FeatureKind Kind => FeatureKind.Pair;
    public int Dimension => _completion.Dimension + _crossDim + OverlapCount;
    public string Identity => $"pair:{_completion.Identity}:cross{_crossDim}:overlap{OverlapCount}";

    public float[] Featurize(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var dim = Dimension;
        var result = new float[(long)texts.Count * dim];
        for (var i = 0; i < texts.Count; i++)
        {
            var (prompt, completion) = RewardModelInputs.Split(texts[i] ?? "");
            if (prompt.Length > CharFeaturizer.MaxChars) prompt = prompt[..CharFeaturizer.MaxChars];
            if (completion.Length > CharFeaturizer.MaxChars) completion = completion[..CharFeaturizer.MaxChars];
            var row = result.AsSpan(i * dim, dim);
            _completion.Featurize([completion]).AsSpan().CopyTo(row);
            Cross(prompt, completion, row.Slice(_completion.Dimension, _crossDim));
            Overlap(prompt, completion, row[(_completion.Dimension + _crossDim)..]);
        }
        return result;
    }

    private void Cross(string prompt, string completion, Span<float> row)
    {
        var p = Words(prompt.ToLowerInvariant()).Distinct().ToArray();
        var c = Words(completion.ToLowerInvariant()).Distinct().ToArray();
        foreach (var a in p)
            foreach (var b in c)
                row[(int)(Hash(a, b) % (ulong)_crossDim)] += 1f;
        double norm = 0;
        foreach (var v in row) norm += (double)v * v;
        if (norm <= 0) return;
        var inv = (float)(1.0 / Math.Sqrt(norm));
        for (var j = 0; j < row.Length; j++) row[j] *= inv;
    }

    private static void Overlap(string prompt, string completion, Span<float> row)
    {
        var promptNumbers = Numbers().Matches(prompt).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var completionNumbers = Numbers().Matches(completion).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var quoted = Quoted().Matches(completion).Select(m => m.Groups[1].Value).ToArray();
        var promptWords = Words(prompt).ToArray();
        // Capitalised words after the first: names and values the answer should carry over (bracketed tags excluded).
        var names = promptWords.Skip(1).Where(w => w.Length >= 3 && char.IsUpper(w[0])).ToHashSet(StringComparer.Ordinal);
        var completionLower = completion.ToLowerInvariant();
        row[0] = Share(promptNumbers, completionNumbers.Contains);
        row[1] = Share(completionNumbers, promptNumbers.Contains);
        row[2] = Share(quoted, q => prompt.Contains(q, StringComparison.OrdinalIgnoreCase));
        row[3] = Share(names, n => completionLower.Contains(n.ToLowerInvariant(), StringComparison.Ordinal));
        row[4] = promptNumbers.Count > 0 ? 1f : 0f;
        row[5] = quoted.Length > 0 ? 1f : 0f;
        row[6] = names.Count > 0 ? 1f : 0f;
        row[7] = 1f;
    }

    // A set with nothing to find is fully covered.
    private static float Share<T>(IReadOnlyCollection<T> items, Func<T, bool> found) =>
        items.Count == 0 ? 1f : items.Count(found) / (float)items.Count;

    private static IEnumerable<string> Words(string text) => WordPattern().Matches(text).Select(m => m.Value);

    private static ulong Hash(string a, string b)
    {
        var h = 14695981039346656037UL;
        foreach (var c in a) h = (h ^ c) * 1099511628211UL;
        h = (h ^ 0x1F) * 1099511628211UL;
        foreach (var c in b) h = (h ^ c) * 1099511628211UL;
        return h;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"[\p{L}\p{N}_]+|[<>=!*]+")]
    private static partial System.Text.RegularExpressions.Regex WordPattern();

    [System.Text.RegularExpressions.GeneratedRegex(@"\d+(?:\.\d+)?")]
    private static partial System.Text.RegularExpressions.Regex Numbers();

    [System.Text.RegularExpressions.GeneratedRegex(@"'([^']*)'")]
    private static partial System.Text.RegularExpressions.Regex Quoted();
}
