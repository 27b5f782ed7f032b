namespace Pipeline.Rewards.Similarity;

/// <summary>Where the contrastive negatives of a group come from.</summary>
public enum NegativeSource
{
    /// <summary>No negatives: r = (pos + gamma * consistency) / temperature.</summary>
    None,
    /// <summary>Texts given with the prompt, in the tag <see cref="SimilarityOptions.NegativesTag"/>, one per line.</summary>
    Given,
    /// <summary>The references of other prompts scored recently, the top-k most similar to this prompt's reference.</summary>
    Hard,
}

/// <summary>How the similarities to several negatives are combined.</summary>
public enum NegativeAggregate { Max, Mean }

/// <summary>
/// Settings of the <c>similarity</c> reward source (HOCON block <c>pipeline.rewards.similarity</c>; names in kebab case).
/// Score per completion c: <c>r = (cos(c, reference) - lambda * agg_n cos(c, n) + consistency * mean_j cos(c, c_j)) / temperature</c>.
/// Enum-valued settings are written in lower case in HOCON (<c>mean</c>, <c>cuda</c>, <c>hard</c>, <c>max</c>); they parse case-insensitively.
/// </summary>
public sealed record SimilarityOptions
{
    /// <summary><c>model</c>: path of a BERT-style sentence-embedding ONNX model; empty (default) = the embedded all-MiniLM-L6-v2.</summary>
    public string? Model { get; init; }

    /// <summary><c>vocab</c>: path of the model's BERT vocab.txt; required with <c>model</c>, ignored for the embedded model.</summary>
    public string? Vocab { get; init; }

    /// <summary><c>pooling</c>: <c>mean</c> (attention-masked mean of token vectors, default; what MiniLM expects) or <c>cls</c>.</summary>
    public SentencePooling Pooling { get; init; } = SentencePooling.Mean;

    /// <summary><c>max-length</c>: tokens per text including [CLS] and [SEP]; longer texts are truncated. Default 128.</summary>
    public int MaxLength { get; init; } = 128;

    /// <summary><c>batch-size</c>: texts per ONNX Runtime call; each batch is padded to its longest text. Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary><c>intra-op-threads</c>: ONNX Runtime intra-op threads (0 = its default, all cores). Default 1.</summary>
    public int IntraOpThreads { get; init; } = 1;

    /// <summary><c>device</c>: <c>cpu</c> (default), <c>cuda</c> or <c>auto</c>; cuda/auto fall back to CPU with a warning where CUDA is unusable.</summary>
    public EncoderDevice Device { get; init; } = EncoderDevice.Cpu;

    /// <summary><c>lambda</c>: weight (>= 0) of the negative term. Default 0.5.</summary>
    public double Lambda { get; init; } = 0.5;

    /// <summary><c>negatives</c>: <c>none</c>, <c>given</c> (from the prompt tag <c>negatives-tag</c>) or <c>hard</c> (default: other prompts' recent references).</summary>
    public NegativeSource Negatives { get; init; } = NegativeSource.Hard;

    /// <summary><c>negatives-tag</c>: the prompt tag holding given negatives, one per line ("\n"). Default <c>negatives</c>.</summary>
    public string NegativesTag { get; init; } = "negatives";

    /// <summary><c>negative-aggregate</c>: <c>max</c> (default) or <c>mean</c> over the negatives' cosines.</summary>
    public NegativeAggregate NegativeAggregate { get; init; } = NegativeAggregate.Max;

    /// <summary><c>hard-negatives-pool</c>: how many recent references (of distinct prompts) are kept as hard-negative candidates. Default 64.</summary>
    public int HardNegativesPool { get; init; } = 64;

    /// <summary><c>hard-negatives-top-k</c>: how many of the pool, the most similar to the prompt's reference, are used. Default 4.</summary>
    public int HardNegativesTopK { get; init; } = 4;

    /// <summary><c>temperature</c>: divides the score (> 0). Default 1.0.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary><c>consistency</c>: gamma, weight of the in-group term mean cos(c, other completions of the group). Default 0 (off).</summary>
    public double Consistency { get; init; }

    /// <summary><c>cache-entries</c>: embeddings kept in the LRU cache; 0 disables caching. Default 10000.</summary>
    public int CacheEntries { get; init; } = 10_000;

    public SentenceEncoderOptions ToEncoderOptions() => new()
    {
        ModelPath = string.IsNullOrWhiteSpace(Model) ? null : Model,
        VocabPath = string.IsNullOrWhiteSpace(Vocab) ? null : Vocab,
        Pooling = Pooling,
        MaxLength = MaxLength,
        BatchSize = BatchSize,
        IntraOpThreads = IntraOpThreads,
        Device = Device,
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the HOCON key of the first bad value.</summary>
    public void Validate() => Validate((key, value, rule) => new ArgumentException($"similarity.{key} = {value}: {rule}"));

    /// <summary>As <see cref="Validate()"/>, with the exception made by <paramref name="error"/> from (key, value, rule).</summary>
    public void Validate(Func<string, object?, string, Exception> error)
    {
        void Check(bool ok, string key, object? value, string rule)
        {
            if (!ok) throw error(key, value, rule);
        }
        Check(double.IsFinite(Lambda) && Lambda >= 0, "lambda", Lambda, "must be a finite number >= 0");
        Check(double.IsFinite(Temperature) && Temperature > 0, "temperature", Temperature, "must be > 0");
        Check(double.IsFinite(Consistency), "consistency", Consistency, "must be a finite number");
        Check(HardNegativesPool >= 0, "hard-negatives-pool", HardNegativesPool, "must be >= 0");
        Check(HardNegativesTopK >= 1, "hard-negatives-top-k", HardNegativesTopK, "must be >= 1");
        Check(CacheEntries >= 0, "cache-entries", CacheEntries, "must be >= 0 (0 = no cache)");
        Check(!string.IsNullOrEmpty(NegativesTag), "negatives-tag", NegativesTag, "must not be empty");
        // The encoder's own rules, named by their keys here (its exceptions name C# properties).
        Check(MaxLength >= 2, "max-length", MaxLength, "must be at least 2 ([CLS] and [SEP])");
        Check(BatchSize >= 1, "batch-size", BatchSize, "must be at least 1");
        Check(IntraOpThreads >= 0, "intra-op-threads", IntraOpThreads, "must be 0 (ONNX Runtime's default) or more");
        Check(string.IsNullOrWhiteSpace(Model) || !string.IsNullOrWhiteSpace(Vocab), "vocab", Vocab, $"must be given with model '{Model}' (a BERT vocab.txt)");
        ToEncoderOptions().Validate();
    }
}
