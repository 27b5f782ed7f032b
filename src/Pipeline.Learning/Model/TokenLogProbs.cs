using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>Per-token log-probabilities under a temperature-scaled policy: log_softmax(logits / T)[target].</summary>
internal static class TokenLogProbs
{
    /// <summary>Returns [N,T] log-probs of <paramref name="targets"/>; <paramref name="logSoftmax"/> is the full [N,T,V] distribution.</summary>
    public static Tensor Of(Tensor logits, Tensor targets, double temperature, out Tensor logSoftmax)
    {
        var scaled = temperature == 1.0 ? logits : logits / temperature;
        logSoftmax = scaled.log_softmax(-1);
        return logSoftmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
    }

    /// <summary>Mean entropy (nats) over masked positions, no gradient.</summary>
    public static Tensor MaskedEntropy(Tensor logSoftmax, Tensor mask)
    {
        using var _ = no_grad();
        var ls = logSoftmax.detach();
        var entropy = -(ls.exp() * ls).sum(-1);
        return where(mask, entropy, zeros_like(entropy)).sum() / mask.sum().clamp_min(1);
    }
}
