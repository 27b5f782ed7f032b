using System.Text.Json;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// What <c>meta.json</c> of a saved reward model holds (kebab-case JSON). Written last by <c>Save</c>, so a directory
/// with a meta.json is complete.
/// </summary>
public sealed record RewardModelMeta
{
    public int Format { get; init; } = RewardModelStore.FormatVersion;
    /// <summary><c>retrieval</c>, <c>classification</c> or <c>ranking</c>.</summary>
    public string Variant { get; init; } = "";
    public long Version { get; init; }
    public long SkippedSteps { get; init; }
    public RewardModelOptions Options { get; init; } = new();
    /// <summary>Featurizer identity (<see cref="IFeaturizer.Identity"/>); null for retrieval.</summary>
    public string? Featurizer { get; init; }
    public int FeatureDimension { get; init; }
    /// <summary>Classification: positive / negative labels trained on (class balancing).</summary>
    public long Positives { get; init; }
    public long Negatives { get; init; }
    /// <summary>Ranking: the running normaliser of raw scores.</summary>
    public RunningMeanStdState? Normalizer { get; init; }
    /// <summary>Ranking: the quantile-floor window, oldest first.</summary>
    public double[]? RecentScores { get; init; }
    /// <summary>Retrieval: table size and evictions so far.</summary>
    public int Entries { get; init; }
    public long Evictions { get; init; }
    public long RejectedLabels { get; init; }
    public DateTimeOffset SavedAt { get; init; }
}

/// <summary>
/// File layout of a saved reward model:
/// <code>
/// dir/meta.json              RewardModelMeta (variant, version, options, normaliser state, ...), written last
/// dir/model.safetensors      head weights (TorchSharp.PyBridge, PyTorch-compatible names)   classification, ranking
/// dir/optimizer.bin          AdamW state (TorchSharp's optimizer state format)               classification, ranking
/// dir/table.jsonl            one entry per line, least recently labelled first                retrieval
/// </code>
/// Each file is written to a temporary sibling and renamed over the old one.
/// </summary>
public static class RewardModelStore
{
    public const int FormatVersion = 1;
    public const string MetaFile = "meta.json";
    public const string WeightsFile = "model.safetensors";
    public const string OptimizerFile = "optimizer.bin";
    public const string TableFile = "table.jsonl";

    /// <summary>Reads <c>meta.json</c> of a saved model.</summary>
    public static RewardModelMeta ReadMeta(string dir)
    {
        var path = Path.Combine(dir, MetaFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"no saved reward model in '{dir}' ({MetaFile} missing)", path);
        var meta = JsonSerializer.Deserialize<RewardModelMeta>(File.ReadAllBytes(path), RewardModelOptions.Json)
                   ?? throw new InvalidDataException($"empty {MetaFile} in '{dir}'");
        if (meta.Format > FormatVersion)
            throw new InvalidDataException($"reward model in '{dir}' has format {meta.Format}; this build reads up to {FormatVersion}");
        meta.Options.Validate();
        return meta;
    }

    internal static RewardModelMeta ReadMeta(string dir, RewardModelVariant expected)
    {
        var meta = ReadMeta(dir);
        var name = RewardModelOptions.Name(expected);
        if (!string.Equals(meta.Variant, name, StringComparison.Ordinal))
            throw new InvalidDataException($"'{dir}' holds a {meta.Variant} reward model, not {name}");
        return meta;
    }

    internal static void WriteMeta(string dir, RewardModelMeta meta) =>
        WriteAtomic(Path.Combine(dir, MetaFile), tmp => File.WriteAllBytes(tmp,
            JsonSerializer.SerializeToUtf8Bytes(meta with { SavedAt = DateTimeOffset.UtcNow }, RewardModelOptions.Json)));

    /// <summary>Calls <paramref name="write"/> with a temporary path next to <paramref name="path"/>, then renames it over <paramref name="path"/>.</summary>
    internal static void WriteAtomic(string path, Action<string> write)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
