using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Rewards.Similarity;

namespace Pipeline.Rewards.Tests.Similarity;

/// <summary>The embedded all-MiniLM-L6-v2, loaded once for every similarity test class.</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmFixture()
    {
        Encoder = new OnnxSentenceEncoder(new SentenceEncoderOptions(), Warnings.Add);
        Vocab = new Dictionary<string, long>(StringComparer.Ordinal);
        using var reader = EmbeddedMiniLm.OpenVocab();
        long id = 0;
        while (reader.ReadLine() is { } line) Vocab.TryAdd(line, id++);
    }

    public OnnxSentenceEncoder Encoder { get; }
    public List<string> Warnings { get; } = [];
    /// <summary>The embedded vocab.txt: token -> id.</summary>
    public Dictionary<string, long> Vocab { get; }

    public void Dispose() => Encoder.Dispose();
}

[CollectionDefinition(Name)]
public sealed class MiniLmCollection : ICollectionFixture<MiniLmFixture>
{
    public const string Name = "MiniLM";
}

/// <summary>Wraps an encoder and records every call (for "one batched call" and "nothing new encoded" checks).</summary>
public sealed class RecordingEncoder(ISentenceEncoder inner) : ISentenceEncoder
{
    private readonly object _lock = new();
    public List<string[]> Calls { get; } = [];
    public Action? OnEncode { get; set; }
    public string ModelName => inner.ModelName;
    public int Dimension => inner.Dimension;
    public int TextsEncoded { get { lock (_lock) return Calls.Sum(c => c.Length); } }

    public float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        lock (_lock) Calls.Add(texts.ToArray());
        OnEncode?.Invoke();
        return inner.Encode(texts, cancellationToken);
    }
}

internal static class Groups
{
    public static RolloutGroup Make(string promptId, string? reference, IEnumerable<string> completions, ImmutableDictionary<string, string>? tags = null)
    {
        var prompt = new Prompt(promptId, "question for " + promptId, reference, tags ?? ImmutableDictionary<string, string>.Empty);
        var rollouts = completions
            .Select((text, i) => new Rollout($"{promptId}-r{i}", $"g-{promptId}", promptId, 1, [], [], [], text, false))
            .ToImmutableArray();
        return new RolloutGroup($"g-{promptId}", prompt, 1, rollouts, TimeSpan.Zero);
    }
}
