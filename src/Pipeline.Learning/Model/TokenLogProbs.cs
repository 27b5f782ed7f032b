using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>Per-token log-probabilities under a temperature-scaled policy: log_softmax(logits / T)[target].</summary>
internal static class TokenLogProbs
{
    /// <summary>Returns [N,T] log-probs of <paramref name="targets"/>; <paramref name="logSoftmax"/> is the full [N,T,V] distribution.</summary>
    public static Tensor Of(Tensor logits, Tensor targets, double temperature, out Tensor logSoftmax)
    {
        // Log-probs in float32 whatever the model computes in (bf16 logits lose the small differences GRPO's ratios need).
        if (logits.dtype != ScalarType.Float32) logits = logits.to_type(ScalarType.Float32);
        var scaled = temperature == 1.0 ? logits : logits.Div(temperature);
        logSoftmax = scaled.log_softmax(-1);
        return logSoftmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
    }

    /// <summary>
    /// [Tokens] log-probs of the completion tokens of <paramref name="batch"/>, in row-major order. The LM head and
    /// log-softmax run on completion positions only (prompt and padding positions are never scored).
    /// </summary>
    public static Tensor OfCompletions(PolicyNetwork model, CompletionBatch batch, double temperature, out Tensor logSoftmax) =>
        Of(model.Head(batch.PerToken(model.Hidden(batch.Inputs))), batch.PerToken(batch.Targets), temperature, out logSoftmax);

    /// <summary>Mean entropy (nats) over the leading positions of a [M,V] log-softmax, no gradient.</summary>
    /// <summary>Mean entropy over rows of <paramref name="logSoftmax"/>, differentiable (for an entropy bonus).</summary>
    public static Tensor MeanEntropyWithGrad(Tensor logSoftmax) => (-(logSoftmax.exp() * logSoftmax).sum(-1)).mean();

    public static Tensor MeanEntropy(Tensor logSoftmax)
    {
        using var _ = no_grad();
        var ls = logSoftmax.detach();
        return (-(ls.exp() * ls).sum(-1)).mean();
    }
}
