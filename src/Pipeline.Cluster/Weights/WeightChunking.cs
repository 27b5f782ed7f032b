using System.Runtime.Serialization;
using System.Security.Cryptography;
using Pipeline.Learning.Weights;

namespace Pipeline.Cluster;

/// <summary>
/// Splits a <see cref="WeightSnapshot"/> into <see cref="WeightChunk"/>s small enough for one remoting frame. The snapshot is
/// encoded once (format byte + the <c>pw1</c> snapshot layout), hashed with SHA-256 and cut into pieces of at most
/// <c>maxChunkBytes</c> data bytes; <see cref="WeightAssembler"/> reverses it.
/// </summary>
public static class WeightChunking
{
    /// <summary>256 KiB of data per chunk: a serialized chunk stays well under the 1 MiB frame that hocon/cluster.conf allows.</summary>
    public const int DefaultChunkBytes = 256 * 1024;

    /// <summary>Bytes a serialized <see cref="WeightChunk"/> adds to its data (ids, counters, checksum) for a transfer id of up to 64 chars.</summary>
    public const int ChunkOverheadBytes = 256;

    public static IReadOnlyList<WeightChunk> Split(WeightSnapshot snapshot, int maxChunkBytes = DefaultChunkBytes, string? transferId = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunkBytes, 1);
        var payload = Encode(snapshot).AsSpan();
        var checksum = Checksum(payload);
        var id = transferId ?? $"w{snapshot.Version}-{Guid.NewGuid():N}";
        var count = Math.Max(1, (payload.Length + maxChunkBytes - 1) / maxChunkBytes);
        var chunks = new WeightChunk[count];
        for (var i = 0; i < count; i++)
        {
            var start = i * maxChunkBytes;
            var length = Math.Min(maxChunkBytes, payload.Length - start);
            chunks[i] = new WeightChunk(id, snapshot.Version, i, count, payload.Slice(start, length).ToArray(), checksum);
        }
        return chunks;
    }

    /// <summary>The bytes that are split: format byte + snapshot layout. At most 2 GiB (a .NET array); larger models need out-of-band transfer.</summary>
    internal static ArraySegment<byte> Encode(WeightSnapshot snapshot)
    {
        var floats = snapshot.ParameterCount;
        var estimate = 16 + floats * sizeof(float) + snapshot.Tensors.Sum(t => 64L + t.Name.Length * 3L + t.Shape.Length * 8L);
        if (estimate > Array.MaxLength)
            throw new ArgumentException($"snapshot v{snapshot.Version} encodes to about {estimate} bytes, over the {Array.MaxLength}-byte array limit");
        using var stream = new MemoryStream((int)estimate);
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(PipelineMessageSerializer.FormatVersion);
            WireCodecs.WriteSnapshot(w, snapshot);
        }
        return new ArraySegment<byte>(stream.GetBuffer(), 0, (int)stream.Length);  // no copy of what may be gigabytes
    }

    internal static WeightSnapshot Decode(byte[] payload)
    {
        using var stream = new MemoryStream(payload, writable: false);
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8);
        var version = r.ReadByte();
        if (version != PipelineMessageSerializer.FormatVersion)
            throw new SerializationException($"weight payload: format version {version}, this node reads {PipelineMessageSerializer.FormatVersion}");
        var snapshot = WireCodecs.ReadSnapshot(r);
        if (stream.Position != stream.Length)
            throw new SerializationException($"weight payload: {stream.Length - stream.Position} trailing bytes");
        return snapshot;
    }

    internal static string Checksum(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));
}
