using System.Collections.Immutable;
using System.Diagnostics;
using Pipeline.Core.Protocol;

namespace Pipeline.Rewards.Similarity;

/// <summary>Throughput of the similarity source against raw ONNX Runtime on the same batches, in one process.</summary>
/// <param name="Sentences">Texts encoded per measured pass (both paths encode exactly the same texts in the same batches).</param>
/// <param name="RawSentencesPerSecond">Only <c>InferenceSession.Run</c> on pre-tokenized batches (best of the passes).</param>
/// <param name="RewardSentencesPerSecond">Through <see cref="ContrastiveSimilarityReward.ScoreAsync"/>, cache disabled: tokenization, Task.Run, pooling, scoring included (best of the passes).</param>
public sealed record SimilarityBenchmarkResult(
    string Model,
    int Sentences,
    int BatchSize,
    int IntraOpThreads,
    double RawSentencesPerSecond,
    double RewardSentencesPerSecond,
    TimeSpan RawElapsed,
    TimeSpan RewardElapsed)
{
    /// <summary>Reward-path throughput as a fraction of raw (target: at least 0.9).</summary>
    public double Ratio => RawSentencesPerSecond > 0 ? RewardSentencesPerSecond / RawSentencesPerSecond : double.NaN;

    public override string ToString() =>
        $"{Model}: {Sentences} sentences, batch {BatchSize}, {IntraOpThreads} intra-op thread(s): raw ONNX Runtime {RawSentencesPerSecond:F1} sentences/s, " +
        $"similarity reward {RewardSentencesPerSecond:F1} sentences/s, ratio {Ratio:P1}";
}

public static class SimilarityBenchmark
{
    /// <summary>Default options (embedded MiniLM, CPU, 1 intra-op thread), cache off, the given batch size.</summary>
    public static SimilarityBenchmarkResult Run(int sentences, int batchSize) => Run(sentences, batchSize, new SimilarityOptions());

    /// <summary>
    /// Encodes <paramref name="sentences"/> synthetic texts (a) as pre-tokenized batches straight through the session and
    /// (b) as groups of <c>batchSize - 1</c> completions plus a reference through the reward (so each group is one batch
    /// of the same texts as in (a)), with the cache disabled. Each path is warmed up, then measured <paramref name="passes"/>
    /// times, interleaved batch by batch (raw batch i, then reward group i); the best pass of each counts.
    /// </summary>
    public static SimilarityBenchmarkResult Run(int sentences, int batchSize, SimilarityOptions options, Action<string>? warn = null, int passes = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sentences, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        options = options with { BatchSize = batchSize, CacheEntries = 0 };
        options.Validate();

        var texts = Sentences(sentences);
        using var encoder = new OnnxSentenceEncoder(options.ToEncoderOptions(), warn);
        using var reward = new ContrastiveSimilarityReward("similarity", encoder, options, EmbeddingCache.Disabled);

        // (a) raw: tokenized up front, not timed.
        var batches = new List<TokenizedBatch>();
        for (var start = 0; start < texts.Length; start += batchSize)
            batches.Add(encoder.TokenizeBatch(texts, start, Math.Min(batchSize, texts.Length - start)));

        // (b) the same texts as groups: each chunk of batchSize texts = (batchSize - 1) completions + 1 reference.
        var groups = new List<RolloutGroup>();
        for (var start = 0; start < texts.Length; start += batchSize)
            groups.Add(Group(groups.Count, texts.AsSpan(start, Math.Min(batchSize, texts.Length - start))));

        RunRaw(encoder, batches[0]);
        RunReward(reward, groups[0]);

        // Interleaved batch by batch, so load from other processes on the box hits both paths alike.
        var raw = TimeSpan.MaxValue;
        var scored = TimeSpan.MaxValue;
        for (var pass = 0; pass < passes; pass++)
        {
            TimeSpan r = TimeSpan.Zero, s = TimeSpan.Zero;
            for (var i = 0; i < batches.Count; i++)
            {
                r += RunRaw(encoder, batches[i]);
                s += RunReward(reward, groups[i]);
            }
            if (r < raw) raw = r;
            if (s < scored) scored = s;
        }
        return new SimilarityBenchmarkResult(encoder.ModelName, texts.Length, batchSize, options.IntraOpThreads,
            texts.Length / raw.TotalSeconds, texts.Length / scored.TotalSeconds, raw, scored);
    }

    /// <summary>The groups path (b) scores: <paramref name="batchSize"/> - 1 completions plus a reference each, over the same texts.</summary>
    public static IReadOnlyList<RolloutGroup> Groups(int sentences, int batchSize)
    {
        var texts = Sentences(sentences);
        var groups = new List<RolloutGroup>();
        for (var start = 0; start < texts.Length; start += batchSize)
            groups.Add(Group(groups.Count, texts.AsSpan(start, Math.Min(batchSize, texts.Length - start))));
        return groups;
    }

    private static TimeSpan RunRaw(OnnxSentenceEncoder encoder, TokenizedBatch batch)
    {
        var clock = Stopwatch.StartNew();
        using var outputs = encoder.Run(batch, CancellationToken.None);
        var first = outputs[0].GetTensorDataAsSpan<float>()[0];
        var elapsed = clock.Elapsed;
        GC.KeepAlive(first);
        return elapsed;
    }

    private static TimeSpan RunReward(ContrastiveSimilarityReward reward, RolloutGroup group)
    {
        var clock = Stopwatch.StartNew();
        var signals = reward.ScoreAsync(group, CancellationToken.None).GetAwaiter().GetResult();
        var elapsed = clock.Elapsed;
        if (signals.Count != group.Rollouts.Length || !signals[0].Valid)
            throw new InvalidOperationException($"benchmark group {group.GroupId} scored badly: {signals.FirstOrDefault()?.Details}");
        return elapsed;
    }

    private static RolloutGroup Group(int index, ReadOnlySpan<string> texts)
    {
        var promptId = $"bench-{index}";
        var prompt = new Prompt(promptId, "benchmark prompt " + index, texts[^1], ImmutableDictionary<string, string>.Empty);
        var rollouts = ImmutableArray.CreateBuilder<Rollout>(texts.Length - 1);
        for (var i = 0; i < texts.Length - 1; i++)
            rollouts.Add(new Rollout($"{promptId}-r{i}", promptId, promptId, 0, [], [], [], texts[i], false));
        return new RolloutGroup(promptId, prompt, 0, rollouts.MoveToImmutable(), TimeSpan.Zero);
    }

    /// <summary>Deterministic, distinct, SQL-flavoured and plain-English sentences of varied length.</summary>
    internal static string[] Sentences(int count)
    {
        string[] subjects = ["the customer", "a small kitten", "the database", "our quarterly revenue", "the new employee", "every order", "the weather", "a red car"];
        string[] verbs = ["was updated", "sits quietly", "fell sharply", "grew steadily", "was shipped", "is missing", "changed again", "arrived late"];
        string[] tails = ["on the mat", "after the outage", "in the north region", "before noon", "despite the warnings", "for the third time this week", "without any explanation", "during the holiday season"];
        string[] tables = ["orders", "customers", "employees", "products", "invoices", "shipments"];
        string[] columns = ["id", "name", "amount", "created_at", "region", "status"];
        var random = new Random(20240917);
        var result = new string[count];
        for (var i = 0; i < count; i++)
        {
            var t = tables[random.Next(tables.Length)];
            var c = columns[random.Next(columns.Length)];
            result[i] = (i % 2) switch
            {
                0 => $"{subjects[random.Next(subjects.Length)]} {verbs[random.Next(verbs.Length)]} {tails[random.Next(tails.Length)]} (case {i})",
                _ => $"SELECT {c}, COUNT(*) FROM {t} WHERE {columns[random.Next(columns.Length)]} > {random.Next(1000)} GROUP BY {c} ORDER BY COUNT(*) DESC LIMIT {i % 50 + 1}",
            };
        }
        return result;
    }
}
