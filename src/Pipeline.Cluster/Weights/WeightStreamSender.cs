using System.Security.Cryptography;
using Pipeline.Core.Protocol;
using Pipeline.Learning.Weights;

namespace Pipeline.Cluster;

/// <summary>
/// Streams one weight version to one receiver, a chunk at a time, read straight from the source's tensors (on the
/// learner node: the learner's own tensors) into a chunk-sized array: the learner holds no copy of the model, only the
/// chunk now in flight to each receiver. Hashes as it reads; a source superseded mid-stream ends it with an abort.
/// Not thread-safe: one owner (the learner node's bridge).
/// </summary>
public sealed class WeightStreamSender : IDisposable
{
    private readonly IWeightSource _source;
    private readonly TimeSpan _leaseTimeout;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private int _tensor;
    private long _offset;
    private int _index;
    private bool _finished;

    public WeightStreamSender(IWeightSource source, string transferId, int chunkBytes, TimeSpan leaseTimeout)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (chunkBytes < 16 || chunkBytes % 16 != 0)
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), chunkBytes, "a chunk holds a whole number of elements of any dtype: a positive multiple of 16 bytes");
        _source = source;
        _leaseTimeout = leaseTimeout;
        ChunkBytes = chunkBytes;
        TransferId = transferId;
        Start = new WeightStreamStart(transferId, source.Version, source.Layouts, chunkBytes, ChunkCount(source.Layouts, chunkBytes));
    }

    public string TransferId { get; }
    public int ChunkBytes { get; }
    public WeightStreamStart Start { get; }
    public DateTimeOffset LastProgress { get; private set; } = DateTimeOffset.UtcNow;

    public static string NewTransferId(long version) => $"w{version}-{Guid.NewGuid():N}";

    /// <summary>Chunks of a version: each tensor's bytes cut into pieces of at most <paramref name="chunkBytes"/> (a chunk never spans two tensors).</summary>
    public static int ChunkCount(IReadOnlyList<TensorLayout> layouts, int chunkBytes) =>
        checked((int)layouts.Sum(l => (l.ByteLength + chunkBytes - 1) / chunkBytes));

    /// <summary>
    /// The next message of the stream: a <see cref="WeightChunk"/>, then <see cref="WeightStreamEnd"/> once all are sent,
    /// or <see cref="WeightStreamAbort"/> when the source moved on to a newer version. Null after the end or an abort.
    /// </summary>
    public IPipelineMessage? Next(DateTimeOffset now)
    {
        if (_finished) return null;
        LastProgress = now;
        while (_tensor < _source.Layouts.Count && _offset >= _source.Layouts[_tensor].ByteLength)
        {
            _tensor++;
            _offset = 0;
        }
        if (_tensor == _source.Layouts.Count)
        {
            _finished = true;
            return new WeightStreamEnd(TransferId, _index, Convert.ToHexStringLower(_hash.GetHashAndReset()));
        }
        var length = (int)Math.Min(ChunkBytes, _source.Layouts[_tensor].ByteLength - _offset);
        var data = new byte[length];
        using (var reader = _source.TryOpen(_leaseTimeout))
        {
            if (reader is null)
            {
                _finished = true;
                return new WeightStreamAbort(TransferId, $"v{_source.Version} superseded after {_index} of {Start.Count} chunks");
            }
            reader.Read(_tensor, _offset, data);
        }
        _hash.AppendData(data);
        var chunk = new WeightChunk(TransferId, _index++, _tensor, _offset, data);
        _offset += length;
        return chunk;
    }

    public void Dispose() => _hash.Dispose();
}
