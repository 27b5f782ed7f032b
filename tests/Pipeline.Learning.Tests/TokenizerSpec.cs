using Pipeline.Learning.Tokenization;

namespace Pipeline.Learning.Tests;

public class TokenizerSpec : IDisposable
{
    private static readonly string[] Corpus =
    [
        "How many customers live in Lyon?",
        "SELECT COUNT(*) FROM customers WHERE city = 'Lyon';",
        "What is the total amount of orders placed in 2023?",
        "SELECT SUM(amount) FROM orders WHERE strftime('%Y', placed_at) = '2023';",
        "Сколько клиентов живёт в Москве?",
        "SELECT COUNT(*) FROM customers WHERE city = 'Москва';",
        "有多少客户住在北京？",
        "SELECT name, \"email\"  FROM   users\tWHERE id >= 42 AND note <> 'a  b';",
        "Multiple   spaces,   tabs\tand\nnewlines  ... end.",
        "customers customers customers orders orders city city city Lyon Lyon",
    ];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tok-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Decode_of_encode_round_trips_every_corpus_string()
    {
        var tok = PolicyTokenizer.Train(Corpus, 200);
        foreach (var s in Corpus)
        {
            var ids = tok.Encode(s);
            Assert.DoesNotContain(tok.Unk, ids);
            Assert.Equal(s, tok.Decode(ids));
        }
    }

    [Fact]
    public void Special_tokens_have_fixed_ids()
    {
        var tok = PolicyTokenizer.Train(Corpus, 100);
        Assert.Equal((0, 1, 2, 3, 4), (tok.Pad, tok.Bos, tok.Eos, tok.Sep, tok.Unk));
        Assert.Equal("<pad>", tok.IdToToken(0));
        Assert.Equal("<unk>", tok.IdToToken(4));
    }

    [Fact]
    public void Training_learns_merges_and_respects_the_vocab_size()
    {
        var small = PolicyTokenizer.Train(Corpus, 60);
        var large = PolicyTokenizer.Train(Corpus, 150);
        Assert.True(large.VocabSize > small.VocabSize);
        Assert.True(large.VocabSize <= 150);
        Assert.True(large.Encode("customers").Length < "customers".Length);
    }

    [Fact]
    public void Training_is_deterministic()
    {
        var a = PolicyTokenizer.Train(Corpus, 150);
        var b = PolicyTokenizer.Train(Corpus.Reverse(), 150);
        Assert.Equal(a.VocabSize, b.VocabSize);
        foreach (var s in Corpus) Assert.Equal(a.Encode(s), b.Encode(s));
    }

    [Fact]
    public void An_entity_tokenizes_the_same_in_a_question_and_in_sql_quotes()
    {
        var tok = PolicyTokenizer.Train(Corpus, 150);
        var bare = tok.Encode("Lyon");
        var inQuestion = tok.Encode("in Lyon?");
        var inSql = tok.Encode("'Lyon'");
        Assert.Equal(bare, inQuestion[^(bare.Length + 1)..^1]);
        Assert.Equal(bare, inSql[1..^1]);
    }

    [Fact]
    public void Encode_prompt_wraps_text_in_bos_and_sep()
    {
        var tok = PolicyTokenizer.Train(Corpus, 100);
        var ids = tok.EncodePrompt("city = 'Lyon'");
        Assert.Equal(tok.Bos, ids[0]);
        Assert.Equal(tok.Sep, ids[^1]);
        Assert.Equal(tok.Encode("city = 'Lyon'"), ids[1..^1]);
        Assert.Equal("city = 'Lyon'", tok.Decode(ids));
    }

    [Fact]
    public void Unknown_characters_map_to_unk_instead_of_throwing()
    {
        var tok = PolicyTokenizer.Train(Corpus, 100);
        var ids = tok.Encode("Lyon ☃ λ");
        Assert.Contains(tok.Unk, ids);
        Assert.Equal("Lyon  ", tok.Decode(ids));
    }

    [Fact]
    public void Literal_special_token_text_is_not_a_special_token()
    {
        var tok = PolicyTokenizer.Train(Corpus.Append("<eos> <pad>"), 100);
        var ids = tok.Encode("<eos>");
        Assert.DoesNotContain(tok.Eos, ids);
        Assert.Equal("<eos>", tok.Decode(ids));
    }

    [Fact]
    public void Saved_tokenizer_loads_with_identical_ids()
    {
        var tok = PolicyTokenizer.Train(Corpus, 180);
        tok.Save(_dir);
        Assert.True(File.Exists(Path.Combine(_dir, "vocab.json")));
        Assert.StartsWith("#version", File.ReadAllText(Path.Combine(_dir, "merges.txt")));
        var loaded = PolicyTokenizer.Load(_dir);
        Assert.Equal(tok.VocabSize, loaded.VocabSize);
        foreach (var s in Corpus)
        {
            Assert.Equal(tok.Encode(s), loaded.Encode(s));
            Assert.Equal(s, loaded.Decode(loaded.Encode(s)));
        }
    }
}
