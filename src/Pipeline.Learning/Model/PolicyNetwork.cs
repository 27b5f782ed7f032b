using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>
/// What the sampler, SFT, GRPO, the evaluator, checkpoints and weight sync need of a policy: hidden states and the LM head
/// (so trainers score completion positions only), a cached decoding step, its vocabulary and context. The built-in
/// model and the Hugging Face families derive from it; only <see cref="Policy.PolicyFactory"/> names a concrete class.
/// Parameters and the state dict are the module's own, so checkpoints and weight transfer keep each model's names.
/// </summary>
public abstract class PolicyNetwork : nn.Module<Tensor, Tensor>
{
    protected PolicyNetwork(string name) : base(name) { }

    /// <summary>Number of token ids the LM head scores (may exceed the tokenizer's, as in HF checkpoints).</summary>
    public abstract int VocabSize { get; }

    /// <summary>Longest sequence (prompt plus completion) the policy is run on.</summary>
    public abstract int ContextLength { get; }

    /// <summary>Device of the parameters; inputs built by the sampler and trainers go here.</summary>
    public Device Device => parameters().First().device;

    /// <summary>The parameters an optimizer updates (requires_grad): all of them, or only the LoRA adapters when attached.</summary>
    public IReadOnlyList<TorchSharp.Modules.Parameter> TrainableParameters() => parameters().Where(p => p.requires_grad).ToList();

    /// <summary>[B,T] int64 tokens -> [B,T,V] logits, causal over the full sequence.</summary>
    public override Tensor forward(Tensor tokens) => Head(Hidden(tokens));

    /// <summary>[B,T] tokens -> [B,T,D] final-norm hidden states (causal), so trainers run the head on scored positions only.</summary>
    public abstract Tensor Hidden(Tensor tokens);

    /// <summary>[..., D] hidden states -> [..., V] logits.</summary>
    public abstract Tensor Head(Tensor hidden);

    /// <summary>An empty cache for <paramref name="batch"/> rows of up to <paramref name="capacity"/> positions, on <see cref="Device"/>.</summary>
    public abstract KvCache NewCache(long batch, long capacity);

    /// <summary>
    /// One cached step: feeds [B,T] tokens at explicit [B,T] positions, appends their keys/values at
    /// <see cref="KvCache.Length"/> and returns logits of the last position only, [B,V].
    /// <paramref name="attnMask"/> is a boolean [B,1,T,Tk] "may attend" mask (left padding); with no mask,
    /// <paramref name="causal"/> must be true for a multi-token prefill at slot 0 and false for a one-token query.
    /// A batch-1 prefill into a wider cache fills every row (one prompt shared by a group). Advances the length by T.
    /// </summary>
    public abstract Tensor ForwardCached(Tensor tokens, Tensor positions, KvCache cache, Tensor? attnMask, bool causal);
}
