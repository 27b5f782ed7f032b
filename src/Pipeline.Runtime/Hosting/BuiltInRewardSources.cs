using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Rubrics;
using Pipeline.Rewards.Similarity;
using Pipeline.Rewards.Verifiable;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// The reward-source types every run knows. The task's own (execution for the SQL task) come from the task; these are
/// registered here:
/// <list type="bullet">
/// <item><c>rubric</c>: a rubric file (pipeline.rewards.rubric.file, or the task's shipped rubric) with the task's predicates;
/// a prompt that carries its own rubric (the jsonl task's rubric field) is scored by that one; principles go to the critic
/// when pipeline.rewards.rubric.judge = critic.</item>
/// <item><c>similarity</c>: contrastive similarity with an ONNX sentence encoder (pipeline.rewards.similarity).</item>
/// <item><c>critic</c>: an LLM judge over an OpenAI-compatible API (pipeline.rewards.critic).</item>
/// <item><c>exact</c>, <c>regex</c>, <c>numeric</c>, <c>contains</c>, <c>json-schema</c>: rules against the prompt's reference(s) (<see cref="VerifiableRewards"/>).</item>
/// <item><c>remote</c>: an HTTP scoring service speaking OpenRLHF's remote reward-model protocol (pipeline.rewards.remote).</item>
/// </list>
/// Users add their own types to the registry this returns before calling <see cref="LocalRun.RunAsync"/>.
/// </summary>
public static class BuiltInRewardSources
{
    public static RewardSourceRegistry Registry() => new RewardSourceRegistry()
        .Register("similarity", c => ContrastiveSimilarityReward.Create(c.Name, SimilarityConfig.FromConfig(c.Settings), c.Warn))
        .Register("rubric", Rubric)
        .Register("critic", LlmCriticReward.Create)
        .Register("exact", c => VerifiableRewards.Create(c))
        .Register("regex", c => VerifiableRewards.Create(c))
        .Register("numeric", c => VerifiableRewards.Create(c))
        .Register("contains", c => VerifiableRewards.Create(c))
        .Register("json-schema", c => VerifiableRewards.Create(c))
        .Register("remote", c => RemoteReward.Create(c));

    private static IRewardSource Rubric(RewardSourceContext c)
    {
        var file = c.Settings.HasPath("file") ? c.Settings.GetString("file") ?? "" : "";
        var judgeName = c.Settings.HasPath("judge") ? c.Settings.GetString("judge") ?? "none" : "none";
        if (judgeName is not ("none" or "critic")) throw new ConfigException($"pipeline.rewards.rubric.judge = '{judgeName}': expected none | critic");
        var rubricTask = c.Task as IRubricTask;
        var predicates = rubricTask?.CreateRubricPredicates() ?? new RubricPredicateRegistry();
        Rubric? rubric = null;
        if (file.Length > 0)
            rubric = RubricFile.Load(file, predicates);
        else if (rubricTask is not null)
            rubric = rubricTask.LoadDefaultRubric(predicates);

        var prompts = c.Task.RlPrompts.Concat(c.Task.HeldOut.Select(d => d.Prompt)).ToList();
        var ownRubrics = prompts.Any(p => p.Tags.ContainsKey(PromptFields.Rubric));
        if (rubric is null && !ownRubrics)
            throw new ConfigException($"pipeline.rewards.sources.{c.Name}: the task '{c.Task.Name}' ships no rubric and its prompts carry none; set pipeline.rewards.rubric.file");

        var client = judgeName == "critic"
            ? new OpenAiCriticClient(CriticOptions.FromConfig(c.Rewards.HasPath("critic") ? c.Rewards.GetConfig("critic") : Config.Empty), c.Warn)
            : null;
        RubricRewardSource Make(Rubric r) => new(c.Name, r, client);
        IRewardSource source;
        try
        {
            var shared = rubric is null ? null : Make(rubric);
            // Prompts with a rubric of their own (the jsonl task's rubric field) are scored by it, the rest by the shared one.
            source = ownRubrics ? new PerPromptRubricSource(c.Name, prompts, shared, predicates, Make) : shared!;
        }
        catch
        {
            client?.Dispose();
            throw;
        }
        return client is null ? source : new JudgedRubricSource(source, client);
    }

    /// <summary>A rubric whose principles go to a critic client it owns: reports the client's counters, disposes it.</summary>
    private sealed class JudgedRubricSource(IRewardSource inner, OpenAiCriticClient client) : IRewardSource, IReportsMetrics, IDisposable
    {
        public string Name => inner.Name;
        public RewardSourceKind Kind => inner.Kind;
        public (double Min, double Max) Range => inner.Range;

        public Task<IReadOnlyList<RewardSignal>> ScoreAsync(Pipeline.Core.Protocol.RolloutGroup group, CancellationToken cancellationToken)
            => inner.ScoreAsync(group, cancellationToken);

        public void AddMetrics(IDictionary<string, double> data)
        {
            foreach (var (key, value) in client.Counters.ToMetrics($"critic/{Name}-judge")) data[key] = value;
        }

        public void Dispose() => client.Dispose();
    }
}
