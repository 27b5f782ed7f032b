using Pipeline.Learning.Model;
using Pipeline.Learning.Lora;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// Grouped-query self-attention with RoPE; parameter names as HF's LlamaAttention (<c>q_proj</c> ... <c>o_proj</c>), plus
/// Qwen3's <c>q_norm</c>/<c>k_norm</c> when the config asks for them.
/// </summary>
public sealed class LlamaAttention : nn.Module
{
    private readonly LoraLinear q_proj;
    private readonly LoraLinear k_proj;
    private readonly LoraLinear v_proj;
    private readonly LoraLinear o_proj;
    // Qwen3 only: per-head RMSNorm over head_dim; null (and absent from the state dict) otherwise.
    private readonly LlamaRmsNorm? q_norm;
    private readonly LlamaRmsNorm? k_norm;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    public LlamaAttention(LlamaConfig config, bool initialise = true) : base(nameof(LlamaAttention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        q_proj = new LoraLinear(config.HiddenSize, (long)_heads * _headDim, config.AttentionBias, initialise);
        k_proj = new LoraLinear(config.HiddenSize, (long)_kvHeads * _headDim, config.AttentionBias, initialise);
        v_proj = new LoraLinear(config.HiddenSize, (long)_kvHeads * _headDim, config.AttentionBias, initialise);
        o_proj = new LoraLinear((long)_heads * _headDim, config.HiddenSize, config.AttentionOutputBias, initialise);
        if (config.QkNorm)
        {
            q_norm = new LlamaRmsNorm(_headDim, config.RmsNormEps);
            k_norm = new LlamaRmsNorm(_headDim, config.RmsNormEps);
        }
        RegisterComponents();
    }

    /// <param name="mask">Boolean "may attend" mask broadcastable to [B, heads, T, keys], or null.</param>
    /// <param name="causal">With no mask: true for a multi-token step from slot 0, false for a one-token query.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, KvCache.Layer? cache, long start, Tensor? mask, bool causal)
    {
        var b = x.shape[0];
        var t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        // The norms act on the last dimension (head_dim), so the [B, H, T, D] layout gives HF's per-head result.
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm.forward(k);
        q = LlamaRotaryEmbedding.Apply(q, cos, sin);
        k = LlamaRotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(k, v, start);
        if (_kvHeads != _heads)
        {
            // Query head h reads key/value head h / (heads / kv_heads), as HF's repeat_kv.
            var rep = _heads / _kvHeads;
            var s = k.shape[2];
            k = k.unsqueeze(2).expand(b, _kvHeads, rep, s, _headDim).reshape(b, _heads, s, _headDim);
            v = v.unsqueeze(2).expand(b, _kvHeads, rep, s, _headDim).reshape(b, _heads, s, _headDim);
        }
        var att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, is_casual: mask is null && causal);
        return o_proj.forward(att.transpose(1, 2).reshape(b, t, (long)_heads * _headDim));
    }
}
