using Pipeline.Learning.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>The decoder stack under <c>model.</c>: <c>embed_tokens</c>, <c>layers.N</c>, <c>norm</c>.</summary>
public sealed class LlamaModel : nn.Module
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly LlamaRmsNorm norm;
    private readonly LlamaRotaryEmbedding _rotary;

    public LlamaModel(LlamaConfig config, bool initialise = true) : base(nameof(LlamaModel))
    {
        embed_tokens = UninitialisedLayers.Embedding(config.VocabSize, config.HiddenSize, initialise);
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new LlamaDecoderLayer(config, initialise)).ToArray());
        norm = new LlamaRmsNorm(config.HiddenSize, config.RmsNormEps);
        _rotary = new LlamaRotaryEmbedding(config.HeadDim, config.Rope);
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => embed_tokens.weight!;

    public LlamaRotaryEmbedding Rotary => _rotary;

    /// <summary>Final hidden states [B, T, hidden] for ids [B, T] at positions [cache.Length, cache.Length + T).</summary>
    public Tensor Forward(Tensor inputIds, KvCache? cache)
    {
        var t = inputIds.shape[1];
        var start = cache?.Length ?? 0;
        var (cos, sin) = _rotary.CosSin(start, t, inputIds.device);
        Tensor? mask = null;
        if (start > 0 && t > 1)
        {
            // A multi-token step after cached positions: query i sees every cached slot and new slots up to itself.
            var allowed = new bool[t * (start + t)];
            for (var i = 0; i < t; i++)
                for (var j = 0; j <= start + i; j++) allowed[i * (start + t) + j] = true;
            mask = tensor(allowed, new[] { t, start + t }, device: inputIds.device);
        }
        return Run(inputIds, cos, sin, cache, mask, causal: t > 1);
    }

    /// <summary>Final hidden states for ids [B, T] at explicit positions [B, T] (left-padded rows), with a [B,1,T,keys] mask or the causal flag.</summary>
    public Tensor Forward(Tensor inputIds, Tensor positions, KvCache? cache, Tensor? mask, bool causal)
    {
        var (cos, sin) = _rotary.CosSin(positions);
        return Run(inputIds, cos, sin, cache, mask, causal);
    }

    private Tensor Run(Tensor inputIds, Tensor cos, Tensor sin, KvCache? cache, Tensor? mask, bool causal)
    {
        var t = inputIds.shape[1];
        var start = cache?.Length ?? 0;
        var x = embed_tokens.forward(inputIds);
        for (var i = 0; i < layers.Count; i++) x = layers[i].Forward(x, cos, sin, cache?.Layers[i], start, mask, causal);
        if (cache is not null) cache.Length = start + t;
        return norm.forward(x);
    }
}
