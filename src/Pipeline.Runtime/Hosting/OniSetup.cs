using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Oni.RewardModels;
using Pipeline.Rewards.Similarity;
using Pipeline.Runtime.Actors.Oni;

namespace Pipeline.Runtime.Hosting;

/// <summary>What ONI mode adds to a run: the labelling critic, the trainer's model, shared counters and the actors' settings.</summary>
public sealed record OniParts(IRewardSource LabelCritic, IRewardModel TrainerModel, OniStats Stats,
    CriticLabeller.Settings Labeller, RewardModelTrainer.Settings Trainer, IDisposable? Encoder) : IDisposable
{
    public void Dispose()
    {
        (LabelCritic as IDisposable)?.Dispose();
        Encoder?.Dispose();
    }
}

/// <summary>Builds ONI mode's parts from pipeline.oni (and registers the "intrinsic" reward-source type).</summary>
public static class OniSetup
{
    public const string Folder = "reward-model";

    public static void RegisterIntrinsic(RewardSourceRegistry registry, PipelineSettings settings, string runDir, bool resume)
    {
        if (registry.Contains("intrinsic")) return;
        registry.Register("intrinsic", c =>
        {
            var options = RewardModelOptions.FromConfig(settings.Oni.RewardModel);
            var encoder = options.Features == FeatureKind.Embedding ? new OnnxSentenceEncoder(warn: c.Warn) : null;
            var initial = resume && Latest(runDir) is { } dir ? RewardModelFactory.Load(dir, encoder) : RewardModelFactory.Create(options, encoder);
            return new IntrinsicRewardSource(c.Name, initial, d => RewardModelFactory.Load(d, encoder), settings.Oni.Beta, encoder, options.Input);
        });
    }

    public static OniParts? Build(PipelineSettings settings, IPipelineTask task, RewardSourceRegistry registry, string runDir, bool resume,
        Action<string> warn)
    {
        var oni = settings.Oni;
        if (!oni.Enabled) return null;
        var block = settings.Rewards.Block;
        var key = $"sources.{oni.LabelSource}.type";
        var type = block.HasPath(key) ? block.GetString(key) : oni.LabelSource;
        var critic = registry.Create(RewardSources.Context(settings, oni.LabelSource, type, task, warn));

        var options = RewardModelOptions.FromConfig(oni.RewardModel);
        var encoder = options.Features == FeatureKind.Embedding ? new OnnxSentenceEncoder(warn: warn) : null;
        var latest = resume ? Latest(runDir) : null;
        var model = latest is not null ? RewardModelFactory.Load(latest, encoder) : RewardModelFactory.Create(options, encoder);
        var root = Path.Combine(runDir, Folder);
        return new OniParts(critic, model, new OniStats(),
            new CriticLabeller.Settings(oni.SamplingRate, oni.LabelsPerSecond, oni.Backlog, oni.MaxInFlight, oni.LabelDeadline, settings.Seed)
            {
                Input = options.Input,
            },
            new RewardModelTrainer.Settings(oni.StepsPerLabelBatch, oni.WarmupLabels, oni.StepsPerLearnerStep, oni.BatchSize, oni.HeldOutEvery,
                oni.PublishEveryVersions, Path.Combine(root, "published"), settings.Seed)
            {
                LabelsDir = root,
                Restore = latest is not null,
                BatchWindow = oni.BatchWindow,
                PublishMinInterval = oni.PublishMinInterval,
            },
            encoder);
    }

    /// <summary>The newest published reward model of a run, if any.</summary>
    public static string? Latest(string runDir)
    {
        var published = Path.Combine(runDir, Folder, "published");
        return Directory.Exists(published)
            ? Directory.GetDirectories(published, "v*").Where(d => File.Exists(Path.Combine(d, "meta.json"))).Order(StringComparer.Ordinal).LastOrDefault()
            : null;
    }
}
