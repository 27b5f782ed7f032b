using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>
/// Preallocated key/value buffers, one pair per layer, shape [B, kv heads, Capacity, headDim] (before grouped heads are
/// repeated). Made inside the caller's dispose scope it dies with that scope; <see cref="Dispose"/> frees it earlier.
/// </summary>
public sealed class KvCache : IDisposable
{
    public KvCache(int layers, long batch, int kvHeads, int headDim, long capacity, Device device, ScalarType dtype = ScalarType.Float32)
    {
        Batch = batch;
        Capacity = capacity;
        Layers = Enumerable.Range(0, layers)
            .Select(_ => new Layer(
                zeros(new[] { batch, kvHeads, capacity, headDim }, dtype: dtype, device: device),
                zeros(new[] { batch, kvHeads, capacity, headDim }, dtype: dtype, device: device)))
            .ToArray();
    }

    public long Batch { get; }
    public long Capacity { get; }
    /// <summary>Slots filled so far (same for every row: prompts are left-padded).</summary>
    public long Length { get; set; }
    public Layer[] Layers { get; }

    /// <summary>Keeps the buffers alive past the dispose scope they were made in (dispose the cache yourself).</summary>
    public KvCache Detached()
    {
        foreach (var layer in Layers) layer.Detach();
        return this;
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }

    public sealed class Layer(Tensor keys, Tensor values) : IDisposable
    {
        /// <summary>
        /// Writes k/v at [start, start+T) and returns what attention should read. A batch-1 prefill into a
        /// wider cache broadcasts into every row (one shared prompt) and attends over its own k/v.
        /// </summary>
        public (Tensor K, Tensor V) Append(Tensor k, Tensor v, long start)
        {
            var t = k.shape[2];
            if (start + t > keys.shape[2]) throw new InvalidOperationException($"KV cache overflow: {start}+{t} > {keys.shape[2]}");
            keys.narrow(2, start, t).copy_(k);
            values.narrow(2, start, t).copy_(v);
            if (k.shape[0] != keys.shape[0])
            {
                if (start != 0) throw new InvalidOperationException("broadcast prefill must start at slot 0");
                return (k, v);
            }
            return (keys.narrow(2, 0, start + t), values.narrow(2, 0, start + t));
        }

        internal void Detach()
        {
            keys.DetachFromDisposeScope();
            values.DetachFromDisposeScope();
        }

        public void Dispose()
        {
            keys.Dispose();
            values.Dispose();
        }
    }
}
