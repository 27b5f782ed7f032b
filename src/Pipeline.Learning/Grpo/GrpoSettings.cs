namespace Pipeline.Learning.Grpo;

/// <summary>Hyperparameters of one GRPO learner update.</summary>
/// <param name="LearningRate">AdamW learning rate.</param>
/// <param name="WeightDecay">AdamW decoupled weight decay (applied to every parameter).</param>
/// <param name="MaxGradNorm">Global L2 gradient-norm clip.</param>
/// <param name="ClipLow">PPO ratio lower clip: ratio &gt;= 1 - ClipLow.</param>
/// <param name="ClipHigh">PPO ratio upper clip: ratio &lt;= 1 + ClipHigh (DAPO clip-higher, &gt; ClipLow keeps exploration).</param>
/// <param name="KlCoef">Weight of the k3 KL to the frozen reference; 0 (or no reference model) disables it and skips the reference forward.</param>
/// <param name="IsCap">Truncated importance sampling cap on pi_prox / pi_behaviour (veRL TIS).</param>
/// <param name="Temperature">Temperature the learner divides logits by; must equal the sampler's (log-probs are of the tempered distribution). Must be &gt; 0.</param>
/// <param name="MiniBatches">Optimizer steps per epoch; the batch is cut into this many contiguous slices.</param>
/// <param name="Epochs">Passes over the batch.</param>
/// <param name="EntropyCoef">Entropy bonus: the loss subtracts this times the mean token entropy (0: none).</param>
public sealed record GrpoSettings(
    double LearningRate = 3e-4, double WeightDecay = 0.0, double MaxGradNorm = 1.0,
    double ClipLow = 0.2, double ClipHigh = 0.28,
    double KlCoef = 0.02,
    double IsCap = 2.0,
    double Temperature = 1.0,
    int MiniBatches = 1, int Epochs = 1,
    double EntropyCoef = 0.0);
