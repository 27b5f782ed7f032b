using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>
/// Preallocated key/value buffers, one pair per layer, shape [B, H, Capacity, headDim].
/// Owned by the caller's dispose scope (the sampler's per-call scope); never outlives a call.
/// </summary>
internal sealed class KvCache
{
    public KvCache(PolicyConfig config, long batch, long capacity, Device device)
    {
        Batch = batch;
        Capacity = capacity;
        Layers = Enumerable.Range(0, config.Layers)
            .Select(_ => new Layer(
                zeros(new[] { batch, config.Heads, capacity, config.HeadDim }, device: device),
                zeros(new[] { batch, config.Heads, capacity, config.HeadDim }, device: device)))
            .ToArray();
    }

    public long Batch { get; }
    public long Capacity { get; }
    /// <summary>Slots filled so far (same for every row: prompts are left-padded).</summary>
    public long Length { get; set; }
    public Layer[] Layers { get; }

    internal sealed class Layer(Tensor keys, Tensor values)
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
    }
}
