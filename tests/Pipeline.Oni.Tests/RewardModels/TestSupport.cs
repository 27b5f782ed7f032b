using Pipeline.Oni.RewardModels;
using Pipeline.Rewards.Similarity;

namespace Pipeline.Oni.Tests.RewardModels;

/// <summary>A temporary directory removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "oni-rm-" + Guid.NewGuid().ToString("N"));

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

/// <summary>The embedded all-MiniLM-L6-v2, loaded once per test class that uses it.</summary>
public sealed class MiniLmFixture : IDisposable
{
    public OnnxSentenceEncoder Encoder { get; } = new(new SentenceEncoderOptions());
    public void Dispose() => Encoder.Dispose();
}

/// <summary>Wraps an encoder and counts the texts sent to it.</summary>
public sealed class CountingEncoder(ISentenceEncoder inner) : ISentenceEncoder
{
    public int Calls { get; private set; }
    public int TextsEncoded { get; private set; }
    public string ModelName => inner.ModelName;
    public int Dimension => inner.Dimension;

    public float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        Calls++;
        TextsEncoded += texts.Count;
        return inner.Encode(texts, cancellationToken);
    }
}

/// <summary>A deterministic toy encoder: a one-hot-ish vector per text, or all NaN for texts containing "NaN!".</summary>
public sealed class ToyEncoder(int dimension = 16) : ISentenceEncoder
{
    public string ModelName => "toy";
    public int Dimension => dimension;

    public float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken) =>
        texts.Select(t =>
        {
            var v = new float[dimension];
            if (t.Contains("NaN!", StringComparison.Ordinal)) Array.Fill(v, float.NaN);
            else v[(int)(TextHash.Of(t) % (UInt128)dimension)] = 1f;
            return v;
        }).ToArray();
}

internal static class Data
{
    private static readonly string[] Columns = ["name", "city", "email", "price", "qty", "id", "total", "created_at", "status", "country"];
    private static readonly string[] Tables = ["customers", "orders", "products", "invoices", "users", "items", "payments"];
    private static readonly string[] Words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "table", "value",
        "where", "order", "group", "update", "insert", "into", "set", "delete", "lorem", "ipsum", "dolor", "sit", "amet"];

    /// <summary>Texts that contain both SELECT and FROM (positive) vs. garbage and SQL-ish text without them (negative).</summary>
    public static List<PointLabel> SqlOrGarbage(int count, int seed)
    {
        var rng = new Random(seed);
        var labels = new List<PointLabel>(count);
        for (var i = 0; i < count; i++)
        {
            var positive = i % 2 == 0;
            string text;
            if (positive)
            {
                var cols = string.Join(", ", Enumerable.Range(0, rng.Next(1, 4)).Select(_ => Columns[rng.Next(Columns.Length)]));
                text = $"SELECT {cols} FROM {Tables[rng.Next(Tables.Length)]}";
                if (rng.Next(2) == 0) text += $" WHERE {Columns[rng.Next(Columns.Length)]} = {rng.Next(1000)}";
                if (rng.Next(3) == 0) text += $" ORDER BY {Columns[rng.Next(Columns.Length)]}";
            }
            else if (rng.Next(2) == 0)
            {
                // Garbage: random printable characters.
                var chars = new char[rng.Next(15, 60)];
                for (var k = 0; k < chars.Length; k++) chars[k] = (char)rng.Next(33, 127);
                text = new string(chars);
            }
            else
            {
                // Word salad and SQL-ish statements with neither SELECT nor FROM.
                text = string.Join(' ', Enumerable.Range(0, rng.Next(4, 10)).Select(_ => Words[rng.Next(Words.Length)]));
                if (rng.Next(2) == 0) text = $"UPDATE {Tables[rng.Next(Tables.Length)]} SET {Columns[rng.Next(Columns.Length)]} = {rng.Next(100)} " + text;
            }
            labels.Add(new PointLabel(text, positive ? 0.6 + 0.4 * rng.NextDouble() : 0.4 * rng.NextDouble()));
        }
        return labels;
    }

    /// <summary>A text of <paramref name="total"/> filler words of which <paramref name="apples"/> are "apple".</summary>
    public static string KeywordText(Random rng, int apples, int total = 12)
    {
        var words = Enumerable.Range(0, total).Select(i => i < apples ? "apple" : Words[rng.Next(Words.Length)]).ToArray();
        rng.Shuffle(words);
        return string.Join(' ', words);
    }

    /// <summary>Pairs whose preferred side has more "apple"s; equal counts are ties (0.5).</summary>
    public static List<PairLabel> ApplePairs(int count, int seed, double tieShare = 0.15)
    {
        var rng = new Random(seed);
        var pairs = new List<PairLabel>(count);
        while (pairs.Count < count)
        {
            var a = rng.Next(0, 7);
            var b = rng.NextDouble() < tieShare ? a : rng.Next(0, 7);
            var prefer = a == b ? 0.5 : a > b ? 1.0 : 0.0;
            pairs.Add(new PairLabel(KeywordText(rng, a), KeywordText(rng, b), prefer));
        }
        return pairs;
    }

    public static IEnumerable<List<T>> Batches<T>(IReadOnlyList<T> items, int batchSize, int steps, int seed)
    {
        var rng = new Random(seed);
        var order = Enumerable.Range(0, items.Count).ToArray();
        var pos = order.Length;
        for (var s = 0; s < steps; s++)
        {
            var batch = new List<T>(batchSize);
            while (batch.Count < batchSize)
            {
                if (pos == order.Length)
                {
                    rng.Shuffle(order);
                    pos = 0;
                }
                batch.Add(items[order[pos++]]);
            }
            yield return batch;
        }
    }
}
