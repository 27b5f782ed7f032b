using Pipeline.Learning.Hf;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>
/// Decoder-only transformer policy: token embedding + learned position embedding (or rotary positions on queries and keys,
/// <see cref="PositionEncoding.Rotary"/>), <see cref="PolicyConfig.Layers"/>
/// pre-LN blocks (causal multi-head attention through scaled_dot_product_attention, GELU MLP), a final LayerNorm
/// and an LM head tied to the token embedding (GPT-2 style; halves the embedding parameters at small widths).
/// No dropout, so train/eval mode does not change the numbers.
/// </summary>
/// <remarks>
/// Parameter names (state_dict keys) are stable: <c>tok_emb.weight</c>, <c>pos_emb.weight</c> (learned positions only),
/// <c>blocks.{i}.{ln_attn|qkv|attn_out|ln_mlp|mlp_in|mlp_out}.{weight|bias}</c>, <c>ln_f.{weight|bias}</c>.
/// </remarks>
public sealed class PolicyModel : PolicyNetwork
{
    private readonly Embedding tok_emb;
    private readonly Embedding? pos_emb;
    private readonly LlamaRotaryEmbedding? _rotary;
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm ln_f;

    /// <summary>Builds the model and initialises every parameter from <paramref name="seed"/> alone.</summary>
    public PolicyModel(PolicyConfig config, long seed) : base(nameof(PolicyModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        tok_emb = nn.Embedding(config.VocabSize, config.DModel);
        if (config.Positions == PositionEncoding.Rotary) _rotary = new LlamaRotaryEmbedding(config.HeadDim, new RopeSettings(10_000));
        else pos_emb = nn.Embedding(config.ContextLength, config.DModel);
        blocks = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new TransformerBlock(config)).ToArray());
        ln_f = nn.LayerNorm(config.DModel);
        RegisterComponents();
        Initialise(seed);
    }

    public PolicyConfig Config { get; }

    public override int VocabSize => Config.VocabSize;

    public override int ContextLength => Config.ContextLength;

    /// <summary>[B,T] tokens -> [B,T,D] final-LayerNorm hidden states (causal). T must be at most ContextLength.</summary>
    public override Tensor Hidden(Tensor tokens)
    {
        var t = tokens.shape[1];
        if (t > Config.ContextLength) throw new ArgumentException($"sequence length {t} exceeds context {Config.ContextLength}");
        var x = tok_emb.forward(tokens);
        if (_rotary is null)
        {
            x = x.Plus(pos_emb!.forward(ScalarOps.Arange(t, tokens.device)));
            foreach (var block in blocks) x = block.forward(x);
        }
        else
        {
            var rotary = _rotary.CosSin(0, t, tokens.device);
            foreach (var block in blocks) x = block.Forward(x, null, 0, null, causal: true, rotary);
        }
        return ln_f.forward(x);
    }

    /// <summary>[..., D] hidden states -> [..., V] logits through the tied head.</summary>
    public override Tensor Head(Tensor hidden) => nn.functional.linear(hidden, tok_emb.weight!);

    public override KvCache NewCache(long batch, long capacity)
        => new(Config.Layers, batch, Config.Heads, Config.HeadDim, capacity, Device);

    public override Tensor ForwardCached(Tensor tokens, Tensor positions, KvCache cache, Tensor? attnMask, bool causal)
    {
        var t = tokens.shape[1];
        var start = cache.Length;
        var x = tok_emb.forward(tokens);
        (Tensor, Tensor)? rotary = null;
        if (_rotary is null) x = x.Plus(pos_emb!.forward(positions));
        else rotary = _rotary.CosSin(positions);
        for (var i = 0; i < blocks.Count; i++) x = blocks[i].Forward(x, cache.Layers[i], start, attnMask, causal, rotary);
        cache.Length = start + t;
        return Head(ln_f.forward(x.narrow(1, t - 1, 1).squeeze(1)));
    }

    /// <summary>
    /// GPT-2 initialisation drawn from a private generator: N(0, 0.02) for embeddings and linear weights,
    /// N(0, 0.02/sqrt(2*Layers)) for the two residual output projections, zero biases, unit LayerNorm gains.
    /// </summary>
    private void Initialise(long seed)
    {
        using var generator = new Generator(unchecked((ulong)seed));
        var residualStd = 0.02 / Math.Sqrt(2.0 * Config.Layers);
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.StartsWith("ln_") || name.Contains(".ln_"))
            {
                if (name.EndsWith("weight")) p.Fill_(1.0); else p.zero_();
            }
            else if (name.EndsWith("bias")) p.zero_();
            else
            {
                var std = name.Contains("attn_out") || name.Contains("mlp_out") ? residualStd : 0.02;
                p.copy_(randn(p.shape, generator: generator).Mul(std)); // init.normal_ ignores its generator in 0.107
            }
        }
    }
}
