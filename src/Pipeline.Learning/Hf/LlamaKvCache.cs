using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// Preallocated keys and values per layer, [B, kv_heads, capacity, head_dim], before the grouped heads are repeated.
/// Lives outside any dispose scope; dispose it when the sequence is done.
/// </summary>
public sealed class LlamaKvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public LlamaKvCache(LlamaConfig config, long batch, long capacity, Device device)
    {
        Capacity = capacity;
        var shape = new[] { batch, config.NumKeyValueHeads, capacity, config.HeadDim };
        _keys = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => zeros(shape, device: device).DetachFromDisposeScope()).ToArray();
        _values = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => zeros(shape, device: device).DetachFromDisposeScope()).ToArray();
    }

    public long Capacity { get; }

    /// <summary>Positions filled so far.</summary>
    public long Length { get; internal set; }

    /// <summary>Writes k/v [B, kv_heads, T, head_dim] at [start, start+T) and returns slots [0, start+T).</summary>
    internal (Tensor K, Tensor V) Append(int layer, Tensor k, Tensor v, long start)
    {
        var t = k.shape[2];
        if (start + t > Capacity) throw new InvalidOperationException($"KV cache overflow: {start}+{t} > {Capacity}");
        _keys[layer].narrow(2, start, t).copy_(k);
        _values[layer].narrow(2, start, t).copy_(v);
        return (_keys[layer].narrow(2, 0, start + t), _values[layer].narrow(2, 0, start + t));
    }

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t.Dispose();
    }
}
