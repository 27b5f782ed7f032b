using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// Builds the sources named in pipeline.rewards.use from their declared type: a type registered in the
/// <see cref="RewardSourceRegistry"/> (built-ins and the user's own), else one the task offers by that name.
/// Runs before the actor system starts, so a bad source is a start-up error (exit 2), not a dead actor.
/// </summary>
public static class RewardSources
{
    public static IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> Build(PipelineSettings settings, IPipelineTask task,
        RewardSourceRegistry registry, Action<string> warn)
    {
        var built = new List<(IRewardSource, RewardSourceSpec)>();
        try
        {
            foreach (var spec in settings.RewardSources)
            {
                var context = Context(settings, spec.Name, spec.Type, task, warn);
                var source = registry.Contains(spec.Type)
                    ? registry.Create(context)
                    : FromTask(task, spec, registry);
                built.Add((source, spec));
                if (source.Kind == RewardSourceKind.Slow && !spec.Required && !settings.Oni.Enabled)
                    warn($"reward source '{spec.Name}' is slow and optional (pipeline.rewards.sources.{spec.Name}.required = off): it never holds " +
                         "its group, so its score counts only when it answers before the other sources are done (behind a remote judge, " +
                         $"almost never; the rest are invalid and masked). Set pipeline.rewards.sources.{spec.Name}.required = on for its score " +
                         "in every batch, or turn ONI on (pipeline.oni.enabled = on) to learn from its labels");
            }
            return built;
        }
        catch
        {
            Dispose(built);
            throw;
        }
    }

    /// <summary>What a factory gets: the type's settings block (pipeline.rewards.&lt;type&gt;, empty if none) and the whole rewards block.</summary>
    public static RewardSourceContext Context(PipelineSettings settings, string name, string type, IPipelineTask task, Action<string> warn)
    {
        var block = settings.Rewards.Block;
        var typeSettings = type != "sources" && block.HasPath(type) && block.GetValue(type).IsObject() ? block.GetConfig(type) : Config.Empty;
        return new RewardSourceContext(name, type, typeSettings, task, warn) { Rewards = block };
    }

    public static void Dispose(IEnumerable<(IRewardSource Source, RewardSourceSpec Spec)> sources)
    {
        foreach (var (source, _) in sources)
            (source as IDisposable)?.Dispose();
    }

    private static IRewardSource FromTask(IPipelineTask task, RewardSourceSpec spec, RewardSourceRegistry registry)
    {
        IRewardSource source;
        try
        {
            source = task.CreateRewardSource(spec.Type);
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"pipeline.rewards.sources.{spec.Name}: type '{spec.Type}' is neither registered " +
                                      $"({string.Join(", ", registry.Types.Order())}) nor offered by the task: {e.Message}");
        }
        return source.Name == spec.Name ? source : new RenamedRewardSource(source, spec.Name);
    }
}

/// <summary>A task's source declared under another name (two instances of one type, say): its signals carry the declared name.</summary>
public sealed class RenamedRewardSource(IRewardSource inner, string name) : IRewardSource, IDisposable
{
    public string Name => name;
    public RewardSourceKind Kind => inner.Kind;
    public (double Min, double Max) Range => inner.Range;

    public async Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        var signals = await inner.ScoreAsync(group, cancellationToken).ConfigureAwait(false);
        return signals?.Select(s => s is not null && s.Source == inner.Name ? s with { Source = name } : s).ToList()!;
    }

    public void Dispose() => (inner as IDisposable)?.Dispose();
}
