using System.Numerics.Tensors;
using Pipeline.Rewards.Similarity;

namespace Pipeline.Rewards.Tests.Similarity;

[Collection(MiniLmCollection.Name)]
public sealed class OnnxSentenceEncoderSimilarityTests(MiniLmFixture fixture)
{
    private static float Cos(float[] a, float[] b) => TensorPrimitives.Dot<float>(a, b);

    [Fact]
    public void Embedded_model_loads_with_384_dims_and_unit_norm_vectors()
    {
        var encoder = fixture.Encoder;
        Assert.Equal("all-MiniLM-L6-v2", encoder.ModelName);
        Assert.Equal(384, encoder.Dimension);
        Assert.Equal("CPU", encoder.ExecutionProvider);
        Assert.True(encoder.LowerCase);
        Assert.Empty(fixture.Warnings);

        var vectors = encoder.Encode(["a cat sits on the mat", "SELECT name FROM users", ""], CancellationToken.None);
        Assert.Equal(3, vectors.Length);
        foreach (var v in vectors)
        {
            Assert.Equal(384, v.Length);
            Assert.Equal(1.0, TensorPrimitives.Norm<float>(v), 4);
        }
        Assert.True(Cos(vectors[0], vectors[1]) < 0.9, "different sentences must not collapse onto one vector");
    }

    [Fact]
    public void A_cat_on_a_mat_is_closer_to_a_kitten_than_to_stock_prices()
    {
        var v = fixture.Encoder.Encode(["a cat sits on the mat", "a kitten is sitting on a mat", "stock prices fell sharply"], CancellationToken.None);
        var kitten = Cos(v[0], v[1]);
        var stocks = Cos(v[0], v[2]);
        Assert.True(kitten > stocks + 0.3, $"cos(cat, kitten) = {kitten:F3}, cos(cat, stocks) = {stocks:F3}");
        Assert.True(kitten > 0.6, $"cos(cat, kitten) = {kitten:F3}");
    }

    [Fact]
    public void Batched_encoding_equals_one_by_one_encoding()
    {
        // Very different lengths, so most rows of the batch are padded; small batches so several batches are run.
        string[] texts =
        [
            "hi",
            "SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.created_at >= '2024-01-01' GROUP BY c.name HAVING SUM(o.amount) > 1000",
            "a cat sits on the mat",
            "stock prices fell sharply after the announcement of weaker than expected earnings",
            "",
            "Ünïcödé àccents and CAPITALS",
            "x",
        ];
        using var small = new OnnxSentenceEncoder(new SentenceEncoderOptions { BatchSize = 3 });
        var batched = small.Encode(texts, CancellationToken.None);
        var full = fixture.Encoder.Encode(texts, CancellationToken.None);
        for (var i = 0; i < texts.Length; i++)
        {
            var single = fixture.Encoder.Encode([texts[i]], CancellationToken.None)[0];
            for (var d = 0; d < single.Length; d++)
            {
                Assert.True(Math.Abs(single[d] - batched[i][d]) < 1e-4, $"text {i} dim {d}: one-by-one {single[d]} vs batch-of-3 {batched[i][d]}");
                Assert.True(Math.Abs(single[d] - full[i][d]) < 1e-4, $"text {i} dim {d}: one-by-one {single[d]} vs batch-of-32 {full[i][d]}");
            }
        }
    }

    [Fact]
    public void Tokenizer_keeps_sql_symbols_lower_cases_and_adds_cls_and_sep()
    {
        var vocab = fixture.Vocab;
        var ids = fixture.Encoder.Tokenize("SELECT COUNT(*) FROM t WHERE a + 1 = 2");
        Assert.Equal(vocab["[CLS]"], ids[0]);
        Assert.Equal(vocab["[SEP]"], ids[^1]);
        foreach (var symbol in new[] { "+", "=", "*", "(", ")", "select", "count", "from", "where" })
            Assert.Contains(vocab[symbol], ids);
        Assert.DoesNotContain(vocab["[UNK]"], ids);
        // [CLS] select count ( * ) from t where a + 1 = 2 [SEP]
        Assert.Equal(15, ids.Length);
        Assert.Equal(ids, fixture.Encoder.Tokenize("select count(*) from t where a + 1 = 2"));
        // Accents are stripped for the uncased vocab instead of becoming [UNK].
        Assert.Equal(fixture.Encoder.Tokenize("cafe"), fixture.Encoder.Tokenize("Café"));
    }

    [Fact]
    public void Long_texts_are_truncated_to_max_length_ending_with_sep()
    {
        var ids = fixture.Encoder.Tokenize(string.Join(' ', Enumerable.Repeat("select", 500)));
        Assert.Equal(128, ids.Length);
        Assert.Equal(fixture.Vocab["[SEP]"], ids[^1]);
        var v = fixture.Encoder.Encode([string.Join(' ', Enumerable.Range(0, 2000).Select(i => "word" + i))], CancellationToken.None)[0];
        Assert.Equal(1.0, TensorPrimitives.Norm<float>(v), 4);
    }

    [Fact]
    public void Mean_and_cls_pooling_give_different_unit_vectors()
    {
        using var cls = new OnnxSentenceEncoder(new SentenceEncoderOptions { Pooling = SentencePooling.Cls });
        string[] texts = ["a cat sits on the mat", "SELECT name FROM users WHERE id = 3"];
        var c = cls.Encode(texts, CancellationToken.None);
        var m = fixture.Encoder.Encode(texts, CancellationToken.None);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(1.0, TensorPrimitives.Norm<float>(c[i]), 4);
            var cos = Cos(c[i], m[i]);
            Assert.True(cos < 0.98, $"text {i}: cls and mean pooling nearly equal (cos {cos:F4})");
        }
    }

    [Fact]
    public void Cuda_device_falls_back_to_cpu_with_a_warning()
    {
        var warnings = new List<string>();
        using var encoder = new OnnxSentenceEncoder(new SentenceEncoderOptions { Device = EncoderDevice.Cuda }, warnings.Add);
        Assert.Equal("CPU", encoder.ExecutionProvider);
        var warning = Assert.Single(warnings);
        Assert.Contains("device = cuda", warning);
        Assert.Contains("CUDA execution provider", warning);
        Assert.Contains("falling back to CPU", warning);
        var v = encoder.Encode(["a cat sits on the mat"], CancellationToken.None)[0];
        var expected = fixture.Encoder.Encode(["a cat sits on the mat"], CancellationToken.None)[0];
        Assert.True(Cos(v, expected) > 0.9999);
    }

    [Fact]
    public void A_user_model_and_vocab_load_by_path()
    {
        var dir = Directory.CreateTempSubdirectory("similarity-model-");
        try
        {
            var model = Path.Combine(dir.FullName, "my-minilm.onnx");
            var vocab = Path.Combine(dir.FullName, "vocab.txt");
            File.WriteAllBytes(model, EmbeddedMiniLm.ReadModelBytes());
            using (var reader = EmbeddedMiniLm.OpenVocab()) File.WriteAllText(vocab, reader.ReadToEnd());

            using var encoder = new OnnxSentenceEncoder(new SentenceEncoderOptions { ModelPath = model, VocabPath = vocab });
            Assert.Equal("my-minilm", encoder.ModelName);
            Assert.Equal(384, encoder.Dimension);
            string[] texts = ["a cat sits on the mat", "SELECT * FROM t"];
            var mine = encoder.Encode(texts, CancellationToken.None);
            var embedded = fixture.Encoder.Encode(texts, CancellationToken.None);
            for (var i = 0; i < texts.Length; i++) Assert.True(Cos(mine[i], embedded[i]) > 0.9999);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_model_path_without_a_vocab_or_a_missing_file_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new OnnxSentenceEncoder(new SentenceEncoderOptions { ModelPath = "/nonexistent/model.onnx" }));
        var vocab = Path.GetTempFileName();
        try
        {
            File.WriteAllText(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
            Assert.Throws<FileNotFoundException>(() =>
                new OnnxSentenceEncoder(new SentenceEncoderOptions { ModelPath = "/nonexistent/model.onnx", VocabPath = vocab }));
        }
        finally
        {
            File.Delete(vocab);
        }
    }

    [Fact]
    public void Encoding_honours_a_cancelled_token()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => fixture.Encoder.Encode(["a", "b"], cts.Token));
    }

    [Fact]
    public void Cancellation_terminates_a_running_batch()
    {
        // 32 texts of 128 tokens: one session run of several hundred ms on this box; cancel 30 ms into it.
        var texts = Enumerable.Range(0, 32).Select(i => string.Join(' ', Enumerable.Range(i, 200).Select(j => "token" + j))).ToArray();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.ThrowsAny<OperationCanceledException>(() => fixture.Encoder.Encode(texts, cts.Token));
        var cancelled = clock.Elapsed;
        clock.Restart();
        fixture.Encoder.Encode(texts, CancellationToken.None);
        var full = clock.Elapsed;
        Assert.True(cancelled < full * 0.7, $"cancelled after {cancelled.TotalMilliseconds:F0} ms, a full run takes {full.TotalMilliseconds:F0} ms");
    }
}
