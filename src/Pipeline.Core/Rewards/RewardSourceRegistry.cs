using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;

namespace Pipeline.Core.Rewards;

/// <summary>
/// What a reward-source factory gets: the source's name (its key under pipeline.rewards.sources), its type,
/// the type's settings block (pipeline.rewards.&lt;type&gt;, empty for types without one), the task, and a warning sink.
/// </summary>
public sealed record RewardSourceContext(string Name, string Type, Config Settings, IPipelineTask Task, Action<string> Warn)
{
    /// <summary>The whole pipeline.rewards block, for a source that needs another type's settings (a rubric's critic judge).</summary>
    public Config Rewards { get; init; } = Config.Empty;
}

/// <summary>
/// Reward sources by type name. The built-in types (the task's own, rubric, similarity, critic) are registered by the
/// host; users add theirs in C# with <see cref="Register"/> and then declare
/// <c>pipeline.rewards.sources.my-name { type = my-type, weight = ..., required = ..., deadline = ... }</c>.
/// </summary>
public sealed class RewardSourceRegistry
{
    private readonly Dictionary<string, Func<RewardSourceContext, IRewardSource>> _factories = new(StringComparer.Ordinal);

    public RewardSourceRegistry Register(string type, Func<RewardSourceContext, IRewardSource> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(type);
        ArgumentNullException.ThrowIfNull(factory);
        _factories[type] = factory;
        return this;
    }

    public bool Contains(string type) => _factories.ContainsKey(type);

    public IReadOnlyCollection<string> Types => _factories.Keys;

    public IRewardSource Create(RewardSourceContext context)
    {
        if (!_factories.TryGetValue(context.Type, out var factory))
            throw new ConfigException(
                $"pipeline.rewards.sources.{context.Name}: unknown reward source type '{context.Type}' (known: {string.Join(", ", _factories.Keys.Order())})");
        var source = factory(context);
        if (source.Name != context.Name)
            throw new ConfigException(
                $"pipeline.rewards.sources.{context.Name}: the '{context.Type}' factory built a source named '{source.Name}'; it must use the declared name");
        return source;
    }
}
