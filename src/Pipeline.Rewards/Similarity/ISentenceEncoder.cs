namespace Pipeline.Rewards.Similarity;

/// <summary>
/// Turns texts into fixed-size sentence embeddings (L2-normalised, so a dot product is a cosine).
/// Shared by the similarity reward and anything else that works on embeddings (e.g. a classifier trained over them).
/// </summary>
public interface ISentenceEncoder
{
    /// <summary>A stable name for the model; embedding caches key on it together with the text.</summary>
    string ModelName { get; }

    /// <summary>Length of every returned vector.</summary>
    int Dimension { get; }

    /// <summary>One vector per text, in input order. Honours <paramref name="cancellationToken"/> between (and, where the backend allows, inside) batches.</summary>
    float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken);
}

/// <summary>How token vectors become one sentence vector.</summary>
public enum SentencePooling
{
    /// <summary>Average of the token vectors, weighted by the attention mask (padding excluded). all-MiniLM-L6-v2 uses it.</summary>
    Mean,
    /// <summary>The [CLS] token's vector (e.g. snowflake-arctic-embed).</summary>
    Cls,
}

/// <summary>Where ONNX Runtime runs the model.</summary>
public enum EncoderDevice
{
    Cpu,
    /// <summary>CUDA execution provider; falls back to CPU with a warning where it cannot be appended.</summary>
    Cuda,
    /// <summary>CUDA when available, else CPU (with a warning saying so).</summary>
    Auto,
}

/// <summary>
/// Settings of <see cref="OnnxSentenceEncoder"/>. <see cref="ModelPath"/> null or empty means the embedded default model
/// (all-MiniLM-L6-v2 with its uncased vocabulary); a user model needs <see cref="VocabPath"/> (a BERT vocab.txt) too.
/// </summary>
public sealed record SentenceEncoderOptions
{
    public string? ModelPath { get; init; }
    public string? VocabPath { get; init; }
    public SentencePooling Pooling { get; init; } = SentencePooling.Mean;
    /// <summary>Tokens per text including [CLS] and [SEP]; longer texts are truncated (still ending with [SEP]).</summary>
    public int MaxLength { get; init; } = 128;
    public int BatchSize { get; init; } = 32;
    public int IntraOpThreads { get; init; } = 1;
    public EncoderDevice Device { get; init; } = EncoderDevice.Cpu;

    public void Validate()
    {
        if (MaxLength < 2) throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength, "max-length must be at least 2 ([CLS] and [SEP])");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch-size must be at least 1");
        if (IntraOpThreads < 0) throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "intra-op-threads must be 0 (ONNX Runtime's default) or more");
        if (!string.IsNullOrEmpty(ModelPath) && string.IsNullOrEmpty(VocabPath))
            throw new ArgumentException($"model '{ModelPath}' given without a vocab (a BERT vocab.txt)", nameof(VocabPath));
    }
}
