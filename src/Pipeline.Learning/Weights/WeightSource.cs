using static TorchSharp.torch;

namespace Pipeline.Learning.Weights;

/// <summary>One tensor of a weight version as it travels: name, shape and the dtype its raw bytes are in.</summary>
public sealed record TensorLayout(string Name, long[] Shape, ScalarType DType)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>Bytes of the raw data in <see cref="DType"/> (bf16: 2 per element, fp32: 4).</summary>
    public long ByteLength => ElementCount * ElementSize(DType);

    public static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new NotSupportedException($"weight sync: dtype {dtype} is not supported"),
    };

    public bool SameLayout(TensorLayout other) =>
        Name == other.Name && DType == other.DType && Shape.AsSpan().SequenceEqual(other.Shape);

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}] {DType}";
}

/// <summary>
/// A policy version as a stream of per-tensor raw bytes in each tensor's own dtype. Readers open a
/// <see cref="WeightReader"/> lease; a source that has moved on to a newer version opens none, so a reader never sees
/// half of one version and half of the next.
/// </summary>
public interface IWeightSource
{
    long Version { get; }
    IReadOnlyList<TensorLayout> Layouts { get; }

    /// <summary>A lease on this version's bytes, or null when the version is superseded (ask for the newest instead).</summary>
    /// <exception cref="TimeoutException">The holder of the data did not let go within <paramref name="timeout"/>.</exception>
    WeightReader? TryOpen(TimeSpan timeout);
}

/// <summary>A lease on one version's bytes; while it is held the version's data does not change.</summary>
public abstract class WeightReader : IDisposable
{
    /// <summary>Copies bytes [<paramref name="offset"/>, offset + destination.Length) of tensor <paramref name="tensor"/>.</summary>
    public abstract void Read(int tensor, long offset, Span<byte> destination);

    /// <summary>The tensor itself when it lives in this process (a generator copies it with <c>copy_</c>, no managed bytes), else null.</summary>
    public virtual Tensor? Local(int tensor) => null;

    public abstract void Dispose();
}

public static class WeightSources
{
    public static long TotalBytes(this IWeightSource source) => source.Layouts.Sum(l => l.ByteLength);
}
