using Pipeline.Learning.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// A Hugging Face Llama (2 and 3) causal LM in TorchSharp. Its state dict names equal the HF checkpoint's
/// (<c>model.layers.0.self_attn.q_proj.weight</c>, <c>lm_head.weight</c>, ...), so <see cref="FromPretrained"/> loads a
/// model folder without a mapping table. Computes in float32.
/// </summary>
public sealed class LlamaForCausalLM : PolicyNetwork
{
    private readonly LlamaModel model;
    // Null when tie_word_embeddings: the logits then reuse model.embed_tokens.weight.
    private readonly Linear? lm_head;
    private readonly int _context;

    /// <param name="contextLength">Longest sequence the policy is run on (default and at most max_position_embeddings).</param>
    public LlamaForCausalLM(LlamaConfig config, int? contextLength = null) : this(config, contextLength, initialise: true) { }

    /// <param name="initialise">False when a checkpoint is about to overwrite every parameter: the layers skip their random init.</param>
    private LlamaForCausalLM(LlamaConfig config, int? contextLength, bool initialise) : base(nameof(LlamaForCausalLM))
    {
        Config = config;
        _context = Math.Min(contextLength ?? config.MaxPositionEmbeddings, config.MaxPositionEmbeddings);
        model = new LlamaModel(config, initialise);
        lm_head = config.TieWordEmbeddings ? null : UninitialisedLayers.Linear(config.HiddenSize, config.VocabSize, false, initialise);
        RegisterComponents();
    }

    public LlamaConfig Config { get; }

    /// <summary>The projections that can carry LoRA adapters (<see cref="Lora.LoraLinear"/>), by module name; lm_head is not one.</summary>
    public static readonly IReadOnlyList<string> Projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public override int VocabSize => Config.VocabSize;

    public override int ContextLength => _context;

    /// <summary>Reads config.json and the safetensors weights of a HF model folder; the model is in eval mode.</summary>
    public static LlamaForCausalLM FromPretrained(string folder, int? contextLength = null)
    {
        var config = LlamaConfig.Load(folder);
        var checkpoint = HfCheckpoint.Open(folder);
        var lm = new LlamaForCausalLM(config, contextLength, initialise: false);
        try
        {
            // Old checkpoints store RoPE's inv_freq buffer (we derive it from config.json); a tied head may be saved too.
            checkpoint.LoadInto(lm, IgnoredOnLoad(config));
        }
        catch
        {
            lm.Dispose();
            throw;
        }
        lm.eval();
        return lm;
    }

    /// <summary>Stored tensors a folder may hold that this model does not load: RoPE's inv_freq buffers, a tied head.</summary>
    public static Func<string, bool> IgnoredOnLoad(LlamaConfig config)
        => name => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
                   || (config.TieWordEmbeddings && name == "lm_head.weight");

    /// <summary>Logits [B, T, vocab] for ids [B, T] that continue the positions held in <paramref name="cache"/> (and are appended to it).</summary>
    public Tensor Forward(Tensor inputIds, KvCache? cache) => Head(model.Forward(inputIds, cache));

    public override Tensor Hidden(Tensor tokens)
    {
        if (tokens.shape[1] > _context) throw new ArgumentException($"sequence length {tokens.shape[1]} exceeds context {_context}");
        return model.Forward(tokens, (KvCache?)null);
    }

    public override Tensor Head(Tensor hidden)
        => lm_head is null ? nn.functional.linear(hidden, model.EmbeddingWeight) : lm_head.forward(hidden);

    public override KvCache NewCache(long batch, long capacity)
        => new(Config.NumHiddenLayers, batch, Config.NumKeyValueHeads, Config.HeadDim, capacity, Device, model.EmbeddingWeight.dtype);

    public override Tensor ForwardCached(Tensor tokens, Tensor positions, KvCache cache, Tensor? attnMask, bool causal)
    {
        var t = tokens.shape[1];
        var h = model.Forward(tokens, positions, cache, attnMask, causal);
        return Head(h.narrow(1, t - 1, 1).squeeze(1));
    }
}
