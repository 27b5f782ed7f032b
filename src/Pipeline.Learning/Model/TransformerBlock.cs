using Pipeline.Learning.Hf;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>Pre-LN block: x + Attn(LN(x)), then x + MLP(LN(x)) with a GELU MLP.</summary>
internal sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln_attn;
    private readonly Linear qkv;
    private readonly Linear attn_out;
    private readonly LayerNorm ln_mlp;
    private readonly Linear mlp_in;
    private readonly Linear mlp_out;
    private readonly int _heads;
    private readonly int _headDim;

    public TransformerBlock(PolicyConfig config) : base(nameof(TransformerBlock))
    {
        _heads = config.Heads;
        _headDim = config.HeadDim;
        ln_attn = nn.LayerNorm(config.DModel);
        qkv = nn.Linear(config.DModel, 3L * config.DModel);
        attn_out = nn.Linear(config.DModel, config.DModel);
        ln_mlp = nn.LayerNorm(config.DModel);
        mlp_in = nn.Linear(config.DModel, (long)config.FfnMultiplier * config.DModel);
        mlp_out = nn.Linear((long)config.FfnMultiplier * config.DModel, config.DModel);
        RegisterComponents();
    }

    /// <summary>Full causal self-attention over the whole sequence (training / no cache).</summary>
    public override Tensor forward(Tensor x) => Forward(x, null, 0, null, causal: true, null);

    /// <summary>
    /// Block step with an optional KV cache. New keys/values are written at cache slots
    /// [start, start+T); attention runs over slots [0, start+T). <paramref name="rotary"/> (cos, sin) rotates queries and
    /// keys before keys are cached, as RoPE needs; null for learned positions.
    /// </summary>
    internal Tensor Forward(Tensor x, KvCache.Layer? cache, long start, Tensor? attnMask, bool causal, (Tensor Cos, Tensor Sin)? rotary)
    {
        var b = x.shape[0];
        var t = x.shape[1];
        var d = x.shape[2];
        var h = ln_attn.forward(x);
        // [B,T,3,H,hd] -> [3,B,H,T,hd]
        var parts = qkv.forward(h).view(b, t, 3, _heads, _headDim).permute(2, 0, 3, 1, 4).unbind(0);
        var q = parts[0];
        var k = parts[1];
        var v = parts[2];
        if (rotary is var (cos, sin))
        {
            q = LlamaRotaryEmbedding.Apply(q, cos, sin);
            k = LlamaRotaryEmbedding.Apply(k, cos, sin);
        }
        if (cache is not null) (k, v) = cache.Append(k, v, start);
        var att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: attnMask, is_casual: causal);
        x = x.Plus(attn_out.forward(att.transpose(1, 2).reshape(b, t, d)));
        return x.Plus(mlp_out.forward(nn.functional.gelu(mlp_in.forward(ln_mlp.forward(x)))));
    }
}
