namespace Pipeline.Learning.Grpo;

/// <summary>
/// Metrics of one <see cref="GrpoTrainer.Step"/>. Loss, PgLoss, Kl, ClipFrac, GradNorm and Entropy are means over
/// the optimizer steps taken (minibatches x epochs); IsRatio*, MismatchKl are over all completion tokens of the batch.
/// </summary>
/// <param name="Loss">Token-mean of pg + KlCoef * kl.</param>
/// <param name="PgLoss">Token-mean policy-gradient term.</param>
/// <param name="Kl">Token-mean k3 KL(pi_theta || pi_ref); 0 when disabled.</param>
/// <param name="ClipFrac">Fraction of tokens whose PPO clip is active.</param>
/// <param name="IsRatioMean">Mean of pi_prox / pi_behaviour before the TIS cap.</param>
/// <param name="IsRatioMax">Max of pi_prox / pi_behaviour before the TIS cap.</param>
/// <param name="MismatchKl">Token-mean k3 estimate of KL(pi_behaviour || pi_prox): sampler/learner mismatch plus staleness.</param>
/// <param name="GradNorm">Global gradient L2 norm before clipping.</param>
/// <param name="Entropy">Token-mean entropy (nats) of the tempered policy.</param>
/// <param name="Tokens">Completion tokens in the batch.</param>
/// <param name="Skipped">True when at least one optimizer step was skipped.</param>
/// <param name="SkipReason">Why, when skipped.</param>
public sealed record GrpoStepStats(
    double Loss, double PgLoss, double Kl, double ClipFrac, double IsRatioMean, double IsRatioMax, double MismatchKl,
    double GradNorm, double Entropy, int Tokens, bool Skipped, string? SkipReason);
