namespace Pipeline.Learning.Sampling;

/// <summary>One generated completion.</summary>
/// <param name="Tokens">Generated tokens, including the stop token when one was emitted.</param>
/// <param name="LogProbs">Behaviour log-prob of each token: log_softmax(logits / T) before top-p truncation (T = 1 when greedy).</param>
/// <param name="Truncated">True when MaxTokens or the context length ended the completion before a stop token.</param>
public sealed record SampledCompletion(int[] Tokens, float[] LogProbs, bool Truncated);
