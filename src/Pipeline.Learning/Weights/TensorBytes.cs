using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Weights;

/// <summary>Raw byte ranges of a tensor, read and written in place: a chunk at a time, never a copy of the whole tensor.</summary>
internal static class TensorBytes
{
    public static void Read(Tensor tensor, long offset, Span<byte> destination)
    {
        if (destination.Length == 0) return;
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
        {
            tensor.bytes.Slice(checked((int)offset), destination.Length).CopyTo(destination);
            return;
        }
        // Another device: narrow a flat view to this chunk and bring only the chunk to the CPU.
        using var scope = NewDisposeScope();
        var (start, count) = Elements(tensor, offset, destination.Length);
        var piece = tensor.detach().reshape(-1).narrow(0, start, count).to(CPU).contiguous();
        piece.bytes.CopyTo(destination);
    }

    public static void Write(Tensor tensor, long offset, ReadOnlySpan<byte> source)
    {
        if (source.Length == 0) return;
        if (!tensor.is_contiguous())
            throw new InvalidOperationException("weight sync writes in place and needs contiguous tensors");
        if (tensor.device_type == DeviceType.CPU)
        {
            source.CopyTo(tensor.bytes.Slice(checked((int)offset), source.Length));
            return;
        }
        using var scope = NewDisposeScope();
        var (start, count) = Elements(tensor, offset, source.Length);
        var piece = empty(count, tensor.dtype, CPU);
        source.CopyTo(piece.bytes);
        using var _ = no_grad();
        tensor.view(-1).narrow(0, start, count).copy_(piece);  // a view of a contiguous tensor: written in place
    }

    private static (long Start, long Count) Elements(Tensor tensor, long offset, int length)
    {
        var size = TensorLayout.ElementSize(tensor.dtype);
        if (offset % size != 0 || length % size != 0)
            throw new ArgumentException($"byte range {offset}+{length} is not whole {tensor.dtype} elements");
        return (offset / size, length / size);
    }
}
