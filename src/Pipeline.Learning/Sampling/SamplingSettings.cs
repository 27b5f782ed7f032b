namespace Pipeline.Learning.Sampling;

/// <summary>How completions are drawn.</summary>
/// <param name="Temperature">Softmax temperature; 0 means greedy (argmax).</param>
/// <param name="TopP">Nucleus mass kept (1 = no truncation). Truncation changes what is sampled, never the reported log-prob.</param>
/// <param name="MaxTokens">Most tokens generated per completion (stop token included).</param>
/// <param name="StopTokens">Tokens that end a completion; the stop token is kept in the completion.</param>
public sealed record SamplingSettings(double Temperature, double TopP, int MaxTokens, IReadOnlyList<int> StopTokens);
