using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Policy;
using Pipeline.Oni.RewardModels;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Similarity;
using Pipeline.Rewards.Verifiable;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// The start-up check of the settings blocks that <see cref="PipelineSettings"/> keeps as raw HOCON for the reward sources'
/// factories: the critic, similarity, rubric and ONI's reward model, read in full whether a source in use needs them or
/// not. Every command runs it before it creates a folder; errors name the full key and the file or --set that set it,
/// as the settings loader's own do.
/// </summary>
public static class SettingsValidation
{
    /// <exception cref="ConfigException">The first bad value.</exception>
    public static PipelineSettings Check(PipelineSettings settings)
    {
        var rewards = settings.Rewards.Block;
        CriticOptions.FromConfig(Sub(rewards, "critic"), settings.OriginOf);
        SimilarityConfig.FromConfig(Sub(rewards, "similarity"), settings.OriginOf);
        Rubric(new ConfigBlock(Sub(rewards, "rubric"), "pipeline.rewards.rubric", settings.OriginOf));
        RewardModelOptions.FromConfig(settings.Oni.RewardModel, settings.OriginOf);
        foreach (var type in VerifiableRewards.Types) VerifiableRewards.Verifier(type, Sub(rewards, type), settings.OriginOf);
        if (settings.RewardSources.Any(s => s.Type == "remote")) RemoteReward.ReadSettings(Sub(rewards, "remote"), settings.OriginOf);
        TaskCatalog.Validate(settings);  // unknown task, missing or malformed data files: exit 2 naming file:line and field
        PolicyFactory.Validate(settings.Policy);  // an hf folder's config.json, weights index and tokenizer, before any folder exists
        return settings;
    }

    private static void Rubric(ConfigBlock block)
    {
        block.Parse("judge", "none", s => s is "none" or "critic" ? s : throw new FormatException("expected none | critic"));
        var file = block.Str("file", "");
        if (file.Length > 0 && !File.Exists(file))
            throw block.Error("file", file, $"no such file (looked for {Path.GetFullPath(file)})");
    }

    private static Config Sub(Config block, string key)
        => block.HasPath(key) && block.GetValue(key).IsObject() ? block.GetConfig(key) : Config.Empty;
}
