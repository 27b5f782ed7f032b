using System.Collections.Immutable;

namespace Pipeline.Core.Protocol;

/// <summary>One task input. <paramref name="Reference"/> is the gold answer (for SQL: the gold query); rewards read it, the policy never sees it.</summary>
public sealed record Prompt(
    string Id,
    string Text,
    string? Reference,
    ImmutableDictionary<string, string> Tags) : IPipelineMessage
{
    public string Tag(string key, string fallback = "") => Tags.TryGetValue(key, out var v) ? v : fallback;
}

/// <summary>One sampled completion with everything the learner needs to correct for staleness.</summary>
public sealed record Rollout(
    string RolloutId,
    string GroupId,
    string PromptId,
    long PolicyVersion,
    int[] PromptTokens,
    int[] CompletionTokens,
    float[] BehaviourLogProbs,
    string CompletionText,
    bool Truncated) : IPipelineMessage;

/// <summary>The G completions sampled for one prompt by one policy version; GRPO normalises rewards inside it.</summary>
public sealed record RolloutGroup(
    string GroupId,
    Prompt Prompt,
    long PolicyVersion,
    ImmutableArray<Rollout> Rollouts,
    TimeSpan GenerationTime) : IPipelineMessage
{
    public int TokenCount => Rollouts.Sum(r => r.CompletionTokens.Length);
}
