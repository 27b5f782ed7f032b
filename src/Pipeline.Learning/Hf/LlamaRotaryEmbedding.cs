using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// RoPE in the rotate_half convention (dimension i pairs with i + head_dim/2), with HF's frequency rules for
/// rope_scaling types linear and llama3. Holds no tensors: the frequencies are a small array, cos/sin are made per call.
/// </summary>
public sealed class LlamaRotaryEmbedding
{
    public LlamaRotaryEmbedding(int headDim, RopeSettings rope)
    {
        HeadDim = headDim;
        InverseFrequencies = Frequencies(headDim, rope);
    }

    public int HeadDim { get; }

    /// <summary>One frequency per rotated pair (head_dim / 2 values).</summary>
    public float[] InverseFrequencies { get; }

    public static float[] Frequencies(int headDim, RopeSettings rope)
    {
        var half = headDim / 2;
        var inv = new double[half];
        // HF computes base ** (2i / dim) in float32; the float exponent keeps us within an ulp of it.
        for (var i = 0; i < half; i++) inv[i] = 1.0 / Math.Pow(rope.Theta, (float)(2 * i) / headDim);
        switch (rope.Type)
        {
            case "linear":
                for (var i = 0; i < half; i++) inv[i] /= rope.Factor;
                break;
            case "llama3":
            {
                // transformers' _compute_llama3_parameters: long wavelengths are slowed by factor, short ones kept,
                // the band between blended smoothly.
                var lowFreqWavelen = rope.OriginalMaxPositionEmbeddings / rope.LowFreqFactor;
                var highFreqWavelen = rope.OriginalMaxPositionEmbeddings / rope.HighFreqFactor;
                for (var i = 0; i < half; i++)
                {
                    var wavelen = 2 * Math.PI / inv[i];
                    if (wavelen > lowFreqWavelen)
                    {
                        inv[i] /= rope.Factor;
                    }
                    else if (wavelen >= highFreqWavelen)
                    {
                        var smooth = (rope.OriginalMaxPositionEmbeddings / wavelen - rope.LowFreqFactor) / (rope.HighFreqFactor - rope.LowFreqFactor);
                        inv[i] = (1 - smooth) * inv[i] / rope.Factor + smooth * inv[i];
                    }
                }
                break;
            }
        }
        return inv.Select(v => (float)v).ToArray();
    }

    /// <summary>cos and sin for positions [start, start + length), each [length, head_dim].</summary>
    public (Tensor Cos, Tensor Sin) CosSin(long start, long length, Device device)
    {
        var positions = new float[length];
        for (var i = 0; i < length; i++) positions[i] = start + i;
        var freqs = tensor(positions, device: device).unsqueeze(1) * tensor(InverseFrequencies, device: device).unsqueeze(0);
        var emb = cat(new[] { freqs, freqs }, -1);
        return (emb.cos(), emb.sin());
    }

    /// <summary>cos and sin for explicit int64 positions [B, T] (left-padded batches), each [B, 1, T, head_dim].</summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positions)
    {
        var freqs = positions.to_type(ScalarType.Float32).unsqueeze(-1) * tensor(InverseFrequencies, device: positions.device);
        var emb = cat(new[] { freqs, freqs }, -1).unsqueeze(1);
        return (emb.cos(), emb.sin());
    }

    /// <summary>x * cos + rotate_half(x) * sin for x [B, H, T, head_dim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        // cos/sin are computed in float32 and used in the activations' dtype (bf16 on a GPU), as HF does.
        if (cos.dtype != x.dtype) (cos, sin) = (cos.to_type(x.dtype), sin.to_type(x.dtype));
        var half = x.shape[^1] / 2;
        var rotated = cat(new[] { x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half) }, -1);
        return (x * cos).Plus(rotated * sin);
    }
}
