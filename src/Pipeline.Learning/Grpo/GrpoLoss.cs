using static TorchSharp.torch;

namespace Pipeline.Learning.Grpo;

/// <summary>Tensors of one minibatch loss; scalars (0-dim). Only <see cref="Loss"/> carries gradient.</summary>
public sealed record GrpoLossTerms(Tensor Loss, Tensor PgLoss, Tensor Kl, Tensor ClipFrac);

/// <summary>
/// Decoupled PPO objective (AReaL) with truncated importance sampling (veRL TIS) and a k3 KL penalty.
/// </summary>
/// <remarks>
/// Per completion token t with sequence advantage A:
/// <code>
/// w_t     = min(exp(logp_prox - logp_behav), IsCap)                 (detached; TIS corrects sampler/learner mismatch and staleness)
/// r_t     = exp(logp - logp_prox)                                      (PPO ratio against the proximal policy, not the behaviour one)
/// pg_t    = -min(r_t * A, clamp(r_t, 1 - ClipLow, 1 + ClipHigh) * A) * w_t
/// kl_t    = exp(logp_ref - logp) - (logp_ref - logp) - 1              (k3, unbiased and &gt;= 0)
/// loss    = sum_t mask_t * (pg_t + KlCoef * kl_t) / sum_t mask_t
/// clipfrac= mean_t [ -A*clip(r_t) &gt; -A*r_t ]                            (veRL's definition)
/// </code>
/// The mean is over ALL completion tokens in the minibatch (GRPO/DAPO token-mean), including those of samples with
/// A = 0: they contribute only their KL term but still count in the denominator, so a group with no signal dilutes
/// the step rather than being dropped (matches veRL's token-mean loss_agg_mode).
/// Masked positions are excluded with <c>where</c> and their behaviour/reference inputs replaced before use, so garbage
/// (even NaN) at padding never reaches the loss or its gradient.
/// </remarks>
public static class GrpoLoss
{
    /// <param name="logp">[N,T] current log-probs (with grad); any shape works if the others match (the trainer passes flat [Tokens] vectors).</param>
    /// <param name="logpProx">[N,T] proximal-policy log-probs (no grad).</param>
    /// <param name="logpBehaviour">[N,T] sampler log-probs.</param>
    /// <param name="logpRef">[N,T] reference log-probs, or null when KL is disabled.</param>
    /// <param name="advantages">Per-sequence [N] (broadcast over T) or per-token, same shape as <paramref name="logp"/>.</param>
    /// <param name="mask">[N,T] completion-token mask (bool or 0/1).</param>
    /// <param name="s">Clip, cap and KL settings.</param>
    public static GrpoLossTerms Compute(
        Tensor logp, Tensor logpProx, Tensor logpBehaviour, Tensor? logpRef, Tensor advantages, Tensor mask, GrpoSettings s)
    {
        var valid = mask.dtype == ScalarType.Bool ? mask : mask.Ne(0);
        var denominator = valid.sum().to_type(ScalarType.Float32).ClampMin(1.0);
        var adv = advantages.dim() < logp.dim() ? advantages.unsqueeze(-1) : advantages; // [N] per sequence -> [N,1]
        adv = adv.to_type(logp.dtype).detach();
        var prox = logpProx.detach();

        // Padding takes prox's value so w = 1 there: a NaN under the mask would otherwise leak into grads as 0 * NaN.
        var behaviour = where(valid, logpBehaviour.detach(), prox);
        var isWeight = (prox - behaviour).exp().ClampMax(s.IsCap);
        var ratio = (logp - prox).exp();
        var unclipped = -adv * ratio;
        var clipped = -adv * ratio.Clamp(1.0 - s.ClipLow, 1.0 + s.ClipHigh);
        var pg = maximum(unclipped, clipped) * isWeight;

        var zero = zeros_like(pg);
        var pgMean = where(valid, pg, zero).sum() / denominator;
        var clipFrac = where(valid, clipped.gt(unclipped).to_type(pg.dtype), zero).sum().detach() / denominator;

        Tensor klMean;
        var loss = pgMean;
        if (logpRef is not null && s.KlCoef != 0)
        {
            var delta = where(valid, logpRef.detach(), logp.detach()) - logp;
            var kl = (delta.exp() - delta).Sub(1.0);
            klMean = where(valid, kl, zero).sum() / denominator;
            loss = pgMean.Plus(klMean.Mul(s.KlCoef));
        }
        else
        {
            klMean = zeros(1, device: logp.device).squeeze();
        }
        return new GrpoLossTerms(loss, pgMean.detach(), klMean.detach(), clipFrac);
    }

    /// <summary>k3 estimate of KL(p || q) from samples of p: exp(logq - logp) - (logq - logp) - 1.</summary>
    public static Tensor K3(Tensor logpSampler, Tensor logqOther)
    {
        var delta = logqOther - logpSampler;
        return (delta.exp() - delta).Sub(1.0);
    }
}
