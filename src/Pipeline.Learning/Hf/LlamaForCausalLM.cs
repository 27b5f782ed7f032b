using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// A Hugging Face Llama (2 and 3) causal LM in TorchSharp. Its state dict names equal the HF checkpoint's
/// (<c>model.layers.0.self_attn.q_proj.weight</c>, <c>lm_head.weight</c>, ...), so <see cref="FromPretrained"/> loads a
/// model folder without a mapping table. Computes in float32.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    private readonly LlamaModel model;
    // Null when tie_word_embeddings: the logits then reuse model.embed_tokens.weight.
    private readonly Linear? lm_head;

    public LlamaForCausalLM(LlamaConfig config) : base(nameof(LlamaForCausalLM))
    {
        Config = config;
        model = new LlamaModel(config);
        lm_head = config.TieWordEmbeddings ? null : nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public LlamaConfig Config { get; }

    /// <summary>Reads config.json and the safetensors weights of a HF model folder; the model is in eval mode.</summary>
    public static LlamaForCausalLM FromPretrained(string folder)
    {
        var config = LlamaConfig.Load(folder);
        var checkpoint = HfCheckpoint.Open(folder);
        var lm = new LlamaForCausalLM(config);
        try
        {
            // Old checkpoints store RoPE's inv_freq buffer (we derive it from config.json); a tied head may be saved too.
            checkpoint.LoadInto(lm, name => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
                                            || (config.TieWordEmbeddings && name == "lm_head.weight"));
        }
        catch
        {
            lm.Dispose();
            throw;
        }
        lm.eval();
        return lm;
    }

    /// <summary>Logits [B, T, vocab] for ids [B, T], causal over the whole sequence.</summary>
    public override Tensor forward(Tensor inputIds) => Forward(inputIds, null);

    /// <summary>Logits for ids [B, T] that continue the positions held in <paramref name="cache"/> (and are appended to it).</summary>
    public Tensor Forward(Tensor inputIds, LlamaKvCache? cache)
    {
        var h = model.Forward(inputIds, cache);
        return lm_head is null ? nn.functional.linear(h, model.EmbeddingWeight) : lm_head.forward(h);
    }
}
