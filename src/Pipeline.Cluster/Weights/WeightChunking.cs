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
        var encoded = EncodeInPieces(snapshot, maxChunkBytes);
        return encoded.Chunks(transferId ?? NewTransferId(snapshot.Version));
    }

    public static string NewTransferId(long version) => $"w{version}-{Guid.NewGuid():N}";

    /// <summary>
    /// Encodes <paramref name="snapshot"/> straight into pieces of at most <paramref name="maxChunkBytes"/> bytes, hashing
    /// as it goes: no buffer of the whole payload and no copy of it. The result can be sent to any number of nodes
    /// (<see cref="EncodedSnapshot.Chunks"/>), so a learner node encodes and hashes each version once, not once per pull.
    /// </summary>
    public static EncodedSnapshot EncodeInPieces(WeightSnapshot snapshot, int maxChunkBytes = DefaultChunkBytes)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunkBytes, 1);
        using var pieces = new PieceStream(maxChunkBytes);
        using (var w = new BinaryWriter(pieces, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(PipelineMessageSerializer.FormatVersion);
            WireCodecs.WriteSnapshot(w, snapshot);
        }
        return new EncodedSnapshot(snapshot.Version, pieces.Finish(out var checksum), checksum);
    }

    /// <summary>A write-only stream that cuts what is written into fixed-size arrays and SHA-256-hashes it on the way.</summary>
    private sealed class PieceStream(int pieceBytes) : Stream
    {
        private readonly List<byte[]> _pieces = [];
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private byte[]? _current;
        private int _used;
        private long _length;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            _length += buffer.Length;
            while (buffer.Length > 0)
            {
                if (_current is null || _used == _current.Length)
                {
                    _current = new byte[pieceBytes];
                    _pieces.Add(_current);
                    _used = 0;
                }
                var n = Math.Min(buffer.Length, _current.Length - _used);
                buffer[..n].CopyTo(_current.AsSpan(_used));
                _used += n;
                buffer = buffer[n..];
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void WriteByte(byte value) => Write([value]);

        public byte[][] Finish(out string checksum)
        {
            checksum = Convert.ToHexStringLower(_hash.GetHashAndReset());
            if (_pieces.Count == 0) return [[]];
            if (_used < _current!.Length) _pieces[^1] = _current.AsSpan(0, _used).ToArray();
            return [.. _pieces];
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
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

/// <summary>A snapshot encoded once into chunk-sized pieces with its SHA-256: the chunks of any number of transfers share the pieces.</summary>
public sealed class EncodedSnapshot(long version, byte[][] pieces, string checksum)
{
    public long Version { get; } = version;
    public string Checksum { get; } = checksum;
    public int PieceCount => pieces.Length;
    public long Bytes => pieces.Sum(p => (long)p.Length);

    /// <summary>The chunks of one transfer (its own id, so a receiver tells a retried pull from the one it abandoned).</summary>
    public IReadOnlyList<WeightChunk> Chunks(string transferId)
        => pieces.Select((piece, i) => new WeightChunk(transferId, Version, i, pieces.Length, piece, Checksum)).ToArray();
}
