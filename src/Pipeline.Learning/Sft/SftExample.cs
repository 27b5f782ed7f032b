namespace Pipeline.Learning.Sft;

/// <summary>A supervised pair; only the completion (which should end with eos) is scored.</summary>
public sealed record SftExample(int[] PromptTokens, int[] CompletionTokens);
