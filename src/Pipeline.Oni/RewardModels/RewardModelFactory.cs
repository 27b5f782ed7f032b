using Pipeline.Rewards.Similarity;

namespace Pipeline.Oni.RewardModels;

/// <summary>Builds or loads the reward model that <c>variant</c> names.</summary>
public static class RewardModelFactory
{
    /// <summary>A fresh model. <paramref name="encoder"/> is needed for the torch variants with <c>features = embedding</c>.</summary>
    public static IRewardModel Create(RewardModelOptions options, ISentenceEncoder? encoder = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options.Variant switch
        {
            RewardModelVariant.Retrieval => new RetrievalRewardModel(options),
            RewardModelVariant.Classification => new ClassificationRewardModel(options, encoder),
            RewardModelVariant.Ranking => new RankingRewardModel(options, encoder),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Variant, "unknown variant"),
        };
    }

    /// <summary>Loads whatever model <paramref name="dir"/> holds (its meta.json names the variant).</summary>
    public static IRewardModel Load(string dir, ISentenceEncoder? encoder = null)
    {
        var meta = RewardModelStore.ReadMeta(dir);
        return RewardModelOptions.ParseEnum<RewardModelVariant>(meta.Variant) switch
        {
            RewardModelVariant.Retrieval => RetrievalRewardModel.Load(dir),
            RewardModelVariant.Classification => ClassificationRewardModel.Load(dir, encoder),
            RewardModelVariant.Ranking => RankingRewardModel.Load(dir, encoder),
            _ => throw new InvalidDataException($"'{dir}': unknown variant '{meta.Variant}'"),
        };
    }
}
