using System.IO.Compression;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Hf.Chat;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// Rendered conversations encoded with the real Llama 2 and Qwen3 tokenizers (tests/fixtures/tokenizers): BOS appears
/// exactly once where the tokenizer has one, never where it has none, and special tokens in the text become their ids.
/// </summary>
public sealed class ChatPromptSpec
{
    private static readonly Lazy<HfTokenizer> Llama2 = new(() => LoadTokenizer("llama2"));
    private static readonly Lazy<HfTokenizer> Qwen3 = new(() => LoadTokenizer("qwen3"));

    private static HfTokenizer LoadTokenizer(string name)
    {
        var fixtures = Path.Combine(ChatTemplateSpec.FixtureDir, "..", "tokenizers");
        var folder = Directory.CreateTempSubdirectory($"chat-tokenizer-{name}-").FullName;
        try
        {
            using (var gz = new GZipStream(File.OpenRead(Path.Combine(fixtures, $"{name}.tokenizer.json.gz")), CompressionMode.Decompress))
            using (var file = File.Create(Path.Combine(folder, HfTokenizer.FileName)))
                gz.CopyTo(file);
            File.Copy(Path.Combine(fixtures, $"{name}.tokenizer_config.json"), Path.Combine(folder, SpecialTokenIds.TokenizerConfigFile));
            return HfTokenizer.Load(folder);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    private static ChatTemplate Llama2Template() => ChatTemplate.Load(Path.Combine(ChatTemplateSpec.FixtureDir, "families", "llama2"))!;

    [Fact]
    public void A_rendering_that_starts_with_bos_gets_no_second_bos()
    {
        var tokenizer = Llama2.Value;
        var bos = tokenizer.IdOf("<s>")!.Value;
        var ids = ChatPrompt.Encode(Llama2Template(), tokenizer, [new ChatMessage("user", "Hello there")], bosId: bos);
        Assert.Equal(bos, ids[0]);
        Assert.NotEqual(bos, ids[1]);
        Assert.Equal(tokenizer.Encode("<s>[INST] Hello there [/INST]"), ids);
    }

    [Fact]
    public void A_rendering_without_bos_gets_the_tokenizers_bos_in_front()
    {
        var tokenizer = Llama2.Value;
        var bos = tokenizer.IdOf("<s>")!.Value;
        var template = ChatTemplate.FromString("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}", "plain.jinja",
            new Dictionary<string, object?> { ["bos_token"] = "<s>" });
        var ids = ChatPrompt.Encode(template, tokenizer, [new ChatMessage("user", "Hello there")]);
        Assert.Equal([bos, .. tokenizer.Encode("[INST] Hello there [/INST]")], ids);
    }

    [Fact]
    public void A_tokenizer_without_a_bos_token_gets_none_and_special_tokens_become_their_ids()
    {
        var tokenizer = Qwen3.Value;
        var template = ChatTemplate.Load(Path.Combine(ChatTemplateSpec.FixtureDir, "families", "qwen3"))!;
        var ids = ChatPrompt.Encode(template, tokenizer, [new ChatMessage("user", "Wie viel ist 2+2?")], bosId: 151643);
        var imStart = tokenizer.IdOf("<|im_start|>")!.Value;
        Assert.Equal(imStart, ids[0]);
        Assert.Equal(2, ids.Count(i => i == imStart));
        Assert.Equal(tokenizer.Encode("<|im_start|>user\nWie viel ist 2+2?<|im_end|>\n<|im_start|>assistant\n"), ids);
    }
}
