using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Tests;

/// <summary>Hand-built groups, rollouts and rewards: no model, no torch.</summary>
public static class RolloutGroups
{
    public static Prompt Prompt(string id = "p0", string text = "How many users?")
        => new(id, text, "SELECT count(*) FROM users", ImmutableDictionary<string, string>.Empty.Add("db", "shop"));

    public static RolloutGroup Build(string groupId, long policyVersion, int rollouts = 3, Prompt? prompt = null,
        int[]? completionLengths = null, bool[]? truncated = null, TimeSpan? generationTime = null)
    {
        prompt ??= Prompt();
        var items = ImmutableArray.CreateBuilder<Rollout>(rollouts);
        for (var i = 0; i < rollouts; i++)
        {
            var length = completionLengths?[i] ?? 4;
            items.Add(new Rollout($"{groupId}-{i}", groupId, prompt.Id, policyVersion,
                PromptTokens: [1, 2, 3],
                CompletionTokens: Enumerable.Range(10, length).ToArray(),
                BehaviourLogProbs: Enumerable.Repeat(-0.5f, length).ToArray(),
                CompletionText: $"SELECT {i}",
                Truncated: truncated?[i] ?? false));
        }
        return new RolloutGroup(groupId, prompt, policyVersion, items.MoveToImmutable(), generationTime ?? TimeSpan.FromMilliseconds(10));
    }

    public static GeneratedGroup Generated(long creditId, long policyVersion = 0, int rollouts = 3, long promptCursor = 1)
        => new(creditId, Build($"g{creditId}", policyVersion, rollouts), promptCursor);

    /// <summary>An annotated group whose every rollout has reward 1 from one source "exec" (or the given rewards, one per rollout).</summary>
    public static AnnotatedGroup Annotated(long creditId, long policyVersion, int rollouts = 3, double[]? rewardValues = null)
    {
        if (rewardValues is not null) rollouts = rewardValues.Length;
        var group = Build($"g{creditId}", policyVersion, rollouts);
        var rewards = Enumerable.Range(0, rollouts)
            .Select(i => rewardValues?[i] ?? 1.0)
            .Select(v => new RolloutRewards([RewardSignal.Ok("exec", v, TimeSpan.FromMilliseconds(1))], v, true, null))
            .ToImmutableArray();
        return new AnnotatedGroup(creditId, group, rewards, TimeSpan.FromMilliseconds(5), PromptCursor: creditId);
    }
}
