using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Rewards.Similarity;

/// <summary>
/// A bounded, thread-safe LRU cache of embeddings keyed by a 128-bit hash (truncated SHA-256) of the model name and
/// the text, so one cache can serve several encoders. Capacity 0 disables it (every lookup misses, nothing is kept).
/// Cached vectors are shared: callers must not modify them.
/// </summary>
public sealed class EmbeddingCache
{
    private readonly object _lock = new();
    private readonly Dictionary<UInt128, LinkedListNode<(UInt128 Key, float[] Vector)>> _map;
    private readonly LinkedList<(UInt128 Key, float[] Vector)> _lru = new(); // most recently used first
    private long _hits, _misses, _evictions;

    public EmbeddingCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
        _map = new Dictionary<UInt128, LinkedListNode<(UInt128, float[])>>(Math.Min(capacity, 1 << 16));
    }

    /// <summary>A cache that keeps nothing.</summary>
    public static EmbeddingCache Disabled => new(0);

    public int Capacity { get; }
    public bool Enabled => Capacity > 0;
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);
    public long Evictions => Interlocked.Read(ref _evictions);

    public int Count
    {
        get { lock (_lock) return _map.Count; }
    }

    /// <summary>The cache key of <paramref name="text"/> under <paramref name="modelName"/>.</summary>
    public static UInt128 Key(string modelName, string text)
    {
        var bytes = Encoding.UTF8.GetMaxByteCount(modelName.Length + text.Length + 1);
        var rented = bytes <= 1024 ? null : ArrayPool<byte>.Shared.Rent(bytes);
        Span<byte> buffer = rented ?? stackalloc byte[1024];
        try
        {
            var n = Encoding.UTF8.GetBytes(modelName, buffer);
            buffer[n++] = 0;
            n += Encoding.UTF8.GetBytes(text, buffer[n..]);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer[..n], hash);
            return new UInt128(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]));
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public bool TryGet(UInt128 key, out float[] vector)
    {
        if (Capacity > 0)
            lock (_lock)
                if (_map.TryGetValue(key, out var node))
                {
                    _lru.Remove(node);
                    _lru.AddFirst(node);
                    Interlocked.Increment(ref _hits);
                    vector = node.Value.Vector;
                    return true;
                }
        Interlocked.Increment(ref _misses);
        vector = null!;
        return false;
    }

    public void Set(UInt128 key, float[] vector)
    {
        if (Capacity == 0) return;
        lock (_lock)
        {
            if (_map.TryGetValue(key, out var existing))
            {
                existing.Value = (key, vector);
                _lru.Remove(existing);
                _lru.AddFirst(existing);
                return;
            }
            if (_map.Count >= Capacity)
            {
                var last = _lru.Last!;
                _lru.RemoveLast();
                _map.Remove(last.Value.Key);
                Interlocked.Increment(ref _evictions);
            }
            _map[key] = _lru.AddFirst((key, vector));
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _map.Clear();
            _lru.Clear();
        }
    }
}

/// <summary>
/// An encoder in front of a cache: looks every text up, encodes only the misses (each distinct text once) in one call
/// to the inner encoder, stores them, and returns all vectors in input order. With a disabled cache it passes straight through.
/// </summary>
public sealed class CachedEncoder : ISentenceEncoder
{
    public CachedEncoder(ISentenceEncoder inner, EmbeddingCache cache)
    {
        Inner = inner ?? throw new ArgumentNullException(nameof(inner));
        Cache = cache ?? throw new ArgumentNullException(nameof(cache));
    }

    public ISentenceEncoder Inner { get; }
    public EmbeddingCache Cache { get; }
    public string ModelName => Inner.ModelName;
    public int Dimension => Inner.Dimension;

    public float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (!Cache.Enabled) return Inner.Encode(texts, cancellationToken);

        var result = new float[texts.Count][];
        var keys = new UInt128[texts.Count];
        List<string>? missTexts = null;
        Dictionary<UInt128, int>? missIndex = null; // key -> position in missTexts
        for (var i = 0; i < texts.Count; i++)
        {
            var text = texts[i] ?? string.Empty;
            keys[i] = EmbeddingCache.Key(ModelName, text);
            if (Cache.TryGet(keys[i], out var hit)) { result[i] = hit; continue; }
            missTexts ??= [];
            missIndex ??= [];
            if (missIndex.TryAdd(keys[i], missTexts.Count)) missTexts.Add(text);
        }
        if (missTexts is null) return result;

        var encoded = Inner.Encode(missTexts, cancellationToken);
        foreach (var (key, index) in missIndex!) Cache.Set(key, encoded[index]);
        for (var i = 0; i < texts.Count; i++)
            result[i] ??= encoded[missIndex[keys[i]]];
        return result;
    }
}
