using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;

namespace Pipeline.Rewards.Rubrics;

/// <summary>
/// A rubric source for prompts that carry their own rubric (the jsonl task's <c>rubric</c> field, kept in the prompt's
/// <see cref="PromptFields.Rubric"/> tag): inline criteria as JSON, or the path of a rubric file. A prompt without one is
/// scored by the configured rubric, if any. Every rubric the prompts name is read when the source is built, so a bad one
/// stops the run at start-up naming the prompt; afterwards scoring only looks its rubric up.
/// </summary>
public sealed class PerPromptRubricSource : IRewardSource
{
    private readonly IRewardSource? _fallback;
    private readonly Dictionary<string, RubricRewardSource> _byTag;

    /// <param name="prompts">Every prompt the source may score (RL and held-out).</param>
    /// <param name="fallback">Scores prompts without a rubric of their own; null: such a prompt is refused at start-up.</param>
    /// <param name="make">Builds the source for one rubric (with the run's judge, if any).</param>
    /// <exception cref="ConfigException">A prompt's rubric is not valid, or a prompt has none and there is no fallback.</exception>
    public PerPromptRubricSource(string name, IEnumerable<Prompt> prompts, IRewardSource? fallback, RubricPredicateRegistry predicates,
        Func<Rubric, RubricRewardSource> make)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(predicates);
        ArgumentNullException.ThrowIfNull(make);
        Name = name;
        _fallback = fallback;
        _byTag = new Dictionary<string, RubricRewardSource>(StringComparer.Ordinal);
        foreach (var prompt in prompts)
        {
            if (!prompt.Tags.TryGetValue(PromptFields.Rubric, out var tag) || tag.Length == 0)
            {
                if (fallback is null)
                    throw new ConfigException(
                        $"reward source '{name}': prompt '{prompt.Id}' has no rubric of its own and no rubric file is configured " +
                        "(give every record a 'rubric', or set pipeline.rewards.rubric.file)");
                continue;
            }
            if (!_byTag.ContainsKey(tag)) _byTag[tag] = make(Parse(tag, $"prompt '{prompt.Id}': rubric", predicates));
        }
        Kind = _byTag.Values.Any(s => s.Kind == RewardSourceKind.Slow) || fallback?.Kind == RewardSourceKind.Slow
            ? RewardSourceKind.Slow : RewardSourceKind.Fast;
    }

    public string Name { get; }
    public RewardSourceKind Kind { get; }
    public (double Min, double Max) Range => (0, 1);

    /// <summary>How many distinct rubrics the prompts carry.</summary>
    public int RubricCount => _byTag.Count;

    /// <summary>
    /// Reads a rubric tag: inline criteria (a JSON array of criteria, or an object: the rubric itself or {"rubric": {...}}),
    /// or else the path of a rubric file (HOCON or JSON).
    /// </summary>
    /// <exception cref="ConfigException">Not a valid rubric; the message starts with <paramref name="origin"/>.</exception>
    public static Rubric Parse(string tag, string origin, RubricPredicateRegistry predicates)
    {
        ArgumentNullException.ThrowIfNull(tag);
        var text = tag.TrimStart();
        if (text.StartsWith('['))
            return RubricFile.Parse($"{{\"rubric\": {{\"name\": \"inline\", \"criteria\": {tag}}}}}", RubricFormat.Json, origin, predicates);
        if (text.StartsWith('{'))
        {
            var wrapped = System.Text.Json.Nodes.JsonNode.Parse(tag) is System.Text.Json.Nodes.JsonObject o && o.ContainsKey("rubric")
                ? tag : $"{{\"rubric\": {tag}}}";
            return RubricFile.Parse(wrapped, RubricFormat.Json, origin, predicates);
        }
        if (!File.Exists(tag)) throw new ConfigException($"{origin}: rubric file '{tag}' does not exist");
        return RubricFile.Load(tag, predicates);
    }

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (group.Prompt.Tags.TryGetValue(PromptFields.Rubric, out var tag) && tag.Length > 0)
        {
            if (_byTag.TryGetValue(tag, out var source)) return source.ScoreAsync(group, cancellationToken);
            return Task.FromResult(Invalid(group, $"prompt '{group.Prompt.Id}' carries a rubric that was not read at start-up"));
        }
        return _fallback is not null
            ? _fallback.ScoreAsync(group, cancellationToken)
            : Task.FromResult(Invalid(group, $"prompt '{group.Prompt.Id}' has no rubric and no rubric file is configured"));
    }

    private IReadOnlyList<RewardSignal> Invalid(RolloutGroup group, string reason)
        => group.Rollouts.Select(_ => RewardSignal.Invalid(Name, reason, TimeSpan.Zero)).ToArray();
}
