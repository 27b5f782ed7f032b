using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Rewards.Similarity;

/// <summary>Reads <see cref="SimilarityOptions"/> from the similarity block (pipeline.rewards.similarity); absent keys keep their defaults.</summary>
public static class SimilarityConfig
{
    public const string Block = "pipeline.rewards.similarity";

    /// <param name="originOf">The settings loader's origin of a full key (file or --set), for the error message; null: not named.</param>
    public static SimilarityOptions FromConfig(Config? config, Func<string, string>? originOf = null)
    {
        var d = new SimilarityOptions();
        var block = new ConfigBlock(config, Block, originOf);
        if (config is null || config.IsEmpty) return Checked(d, block);

        string Str(string key, string? fallback) => block.Str(key, fallback ?? "");
        T Parse<T>(string key, T fallback, Func<string, T> parse) => block.Parse(key, fallback, parse);
        int Int(string key, int fallback) => block.Int(key, fallback);
        double Dbl(string key, double fallback) => block.Double(key, fallback);
        TEnum Enum<TEnum>(string key, TEnum fallback, params string[] allowed) where TEnum : struct, System.Enum
            => Parse(key, fallback, s => allowed.Contains(s, StringComparer.Ordinal) && System.Enum.TryParse<TEnum>(s, ignoreCase: true, out var v)
                ? v : throw new FormatException($"expected {string.Join(" | ", allowed)}"));

        var model = Str("model", d.Model);
        var vocab = Str("vocab", d.Vocab);
        return Checked(new SimilarityOptions
        {
            Model = model.Length == 0 ? null : model,
            Vocab = vocab.Length == 0 ? null : vocab,
            Pooling = Enum("pooling", d.Pooling, "mean", "cls"),
            MaxLength = Int("max-length", d.MaxLength),
            BatchSize = Int("batch-size", d.BatchSize),
            IntraOpThreads = Int("intra-op-threads", d.IntraOpThreads),
            Device = Enum("device", d.Device, "cpu", "cuda", "auto"),
            Lambda = Dbl("lambda", d.Lambda),
            Negatives = Enum("negatives", d.Negatives, "none", "given", "hard"),
            NegativesTag = Str("negatives-tag", d.NegativesTag),
            NegativeAggregate = Enum("negative-aggregate", d.NegativeAggregate, "max", "mean"),
            HardNegativesPool = Int("hard-negatives-pool", d.HardNegativesPool),
            HardNegativesTopK = Int("hard-negatives-top-k", d.HardNegativesTopK),
            Temperature = Dbl("temperature", d.Temperature),
            Consistency = Dbl("consistency", d.Consistency),
            CacheEntries = Int("cache-entries", d.CacheEntries),
        }, block);
    }

    private static SimilarityOptions Checked(SimilarityOptions options, ConfigBlock block)
    {
        options.Validate(block.Error);
        return options;
    }
}
