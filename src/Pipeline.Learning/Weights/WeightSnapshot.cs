using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Learning.Weights;

/// <summary>One tensor of a module's state dict, as plain CPU float32 data (row-major).</summary>
public sealed record NamedTensor(string Name, long[] Shape, float[] Data)
{
    /// <summary>Number of elements implied by <see cref="Shape"/>.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>
/// An immutable, device-free copy of a policy's weights, tagged with the policy version it belongs to.
/// Two snapshots are equal when version, parameter count and checksum are equal.
/// </summary>
public sealed record WeightSnapshot(long Version, IReadOnlyList<NamedTensor> Tensors) : IWeightSource
{
    private TensorLayout[]? _layouts;

    /// <summary>As a weight source: every tensor as float32 bytes (a snapshot never changes, so it is never superseded).</summary>
    public IReadOnlyList<TensorLayout> Layouts =>
        _layouts ??= Tensors.Select(t => new TensorLayout(t.Name, t.Shape, TorchSharp.torch.ScalarType.Float32)).ToArray();

    public WeightReader? TryOpen(TimeSpan timeout) => new Reader(Tensors);

    private sealed class Reader(IReadOnlyList<NamedTensor> tensors) : WeightReader
    {
        public override void Read(int tensor, long offset, Span<byte> destination) =>
            MemoryMarshal.AsBytes(tensors[tensor].Data.AsSpan()).Slice(checked((int)offset), destination.Length).CopyTo(destination);
        public override void Dispose() { }
    }

    private string? _checksum;

    /// <summary>Total number of scalars over all tensors (parameters and buffers).</summary>
    public long ParameterCount { get; } = Tensors.Sum(t => (long)t.Data.Length);

    /// <summary>Lower-case SHA-256 hex over names, shapes and data (computed once, lazily). The version is not included.</summary>
    public string Checksum => _checksum ??= ComputeChecksum(Tensors);

    public bool Equals(WeightSnapshot? other) =>
        other is not null && (ReferenceEquals(this, other) ||
            (Version == other.Version && ParameterCount == other.ParameterCount && Checksum == other.Checksum));

    public override int GetHashCode() => HashCode.Combine(Version, ParameterCount);

    private static string ComputeChecksum(IReadOnlyList<NamedTensor> tensors)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> buf = stackalloc byte[8];
        foreach (var t in tensors)
        {
            var name = Encoding.UTF8.GetBytes(t.Name);
            BitConverter.TryWriteBytes(buf, name.Length);
            sha.AppendData(buf[..4]);
            sha.AppendData(name);
            BitConverter.TryWriteBytes(buf, t.Shape.Length);
            sha.AppendData(buf[..4]);
            foreach (var d in t.Shape)
            {
                BitConverter.TryWriteBytes(buf, d);
                sha.AppendData(buf);
            }
            // float32 little-endian bytes (all supported hosts are little-endian).
            sha.AppendData(MemoryMarshal.AsBytes(t.Data.AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
