namespace Pipeline.Learning.Grpo;

/// <summary>One completion ready for the learner.</summary>
/// <param name="PromptTokens">Prompt (at least one token).</param>
/// <param name="CompletionTokens">Sampled completion, stop token included.</param>
/// <param name="BehaviourLogProbs">Sampler log-probs of each completion token (same temperature as the learner).</param>
/// <param name="Advantage">Sequence-level advantage, broadcast to every completion token.</param>
/// <param name="PolicyVersion">Weights version that sampled it (staleness accounting; not used by the loss).</param>
public sealed record TrainSample(int[] PromptTokens, int[] CompletionTokens, float[] BehaviourLogProbs, double Advantage, long PolicyVersion)
{
    /// <summary>Optional per-token addition to <see cref="Advantage"/> (dense feedback, DRLC); one entry per completion token.</summary>
    public float[]? TokenBonus { get; init; }
}
