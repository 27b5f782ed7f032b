using Pipeline.Learning.Model;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>Pre-norm block: x + attn(RMSNorm(x)), then x + mlp(RMSNorm(x)); names as HF's LlamaDecoderLayer.</summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    private readonly LlamaAttention self_attn;
    private readonly LlamaMlp mlp;
    private readonly LlamaRmsNorm input_layernorm;
    private readonly LlamaRmsNorm post_attention_layernorm;

    public LlamaDecoderLayer(LlamaConfig config, bool initialise = true) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(config, initialise);
        mlp = new LlamaMlp(config, initialise);
        input_layernorm = new LlamaRmsNorm(config.HiddenSize, config.RmsNormEps);
        post_attention_layernorm = new LlamaRmsNorm(config.HiddenSize, config.RmsNormEps);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, KvCache.Layer? cache, long start, Tensor? mask, bool causal)
    {
        x = x.Plus(self_attn.Forward(input_layernorm.forward(x), cos, sin, cache, start, mask, causal));
        return x.Plus(mlp.forward(post_attention_layernorm.forward(x)));
    }
}
