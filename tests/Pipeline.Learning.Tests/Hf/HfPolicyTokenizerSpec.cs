using System.Collections.Immutable;
using System.IO.Compression;
using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Hf.Chat;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// How a task's prompt reaches an hf policy (pipeline.policy.chat-template): through the folder's chat template as one
/// user turn (auto), as plain text (none), or through the user's own template file, which the run's copy keeps.
/// </summary>
public sealed class HfPolicyTokenizerSpec : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("hf-policy-tokenizer-").FullName;

    public HfPolicyTokenizerSpec()
    {
        var fixtures = Path.Combine(ChatTemplateSpec.FixtureDir, "..", "tokenizers");
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(fixtures, "qwen3.tokenizer.json.gz")), CompressionMode.Decompress))
        using (var file = File.Create(Path.Combine(_folder, HfTokenizer.FileName)))
            gz.CopyTo(file);
        File.Copy(Path.Combine(fixtures, "qwen3.tokenizer_config.json"), Path.Combine(_folder, SpecialTokenIds.TokenizerConfigFile));
    }

    public void Dispose() => Directory.Delete(_folder, true);

    [Fact]
    public void Auto_renders_the_prompt_as_one_user_turn_with_the_generation_prompt()
    {
        var tokenizer = HfPolicyTokenizer.Load(_folder, chatTemplate: "auto");
        Assert.NotNull(tokenizer.Template);
        var ids = tokenizer.EncodePrompt("Wie viel ist 2+2?");
        Assert.Equal(tokenizer.Inner.Encode("<|im_start|>user\nWie viel ist 2+2?<|im_end|>\n<|im_start|>assistant\n"), ids);
        Assert.Equal(tokenizer.Inner.IdOf("<|im_end|>"), tokenizer.Eos);
    }

    /// <summary>A prompt as the jsonl task makes it from chat turns: the plain rendering as text, the turns in the messages tag.</summary>
    private static Prompt ChatPromptOf(params (string Role, string Content)[] turns) => new(
        "c-7",
        PlainChatRenderer.Instance.Render(turns.Select(t => new ChatTurn(t.Role, t.Content)).ToList()),
        "white",
        ImmutableDictionary<string, string>.Empty.Add(
            PromptFields.Messages, JsonSerializer.Serialize(turns.Select(t => new { role = t.Role, content = t.Content }))));

    [Fact]
    public void Chat_turns_go_through_the_template_as_the_turns_they_are()
    {
        var tokenizer = HfPolicyTokenizer.Load(_folder, chatTemplate: "auto");
        var prompt = ChatPromptOf(("system", "Answer with one word."), ("user", "What colour is snow?"));
        IPolicyTokenizer policyTokenizer = tokenizer; // as the generator, learner and evaluator hold it
        Assert.Equal(
            tokenizer.Inner.Encode("<|im_start|>system\nAnswer with one word.<|im_end|>\n<|im_start|>user\nWhat colour is snow?<|im_end|>\n<|im_start|>assistant\n"),
            policyTokenizer.EncodePrompt(prompt));
    }

    [Fact]
    public void Chat_turns_without_a_template_are_their_plain_rendering()
    {
        IPolicyTokenizer tokenizer = HfPolicyTokenizer.Load(_folder, chatTemplate: "none");
        var prompt = ChatPromptOf(("system", "Answer with one word."), ("user", "What colour is snow?"));
        Assert.Equal(tokenizer.Encode("system: Answer with one word.\nuser: What colour is snow?\nassistant:"), tokenizer.EncodePrompt(prompt));
    }

    [Fact]
    public void None_encodes_the_plain_text_without_a_bos_the_model_does_not_add()
    {
        var tokenizer = HfPolicyTokenizer.Load(_folder, chatTemplate: "none");
        Assert.Null(tokenizer.Template);
        Assert.Equal(tokenizer.Inner.Encode("Wie viel ist 2+2?"), tokenizer.EncodePrompt("Wie viel ist 2+2?"));
    }

    [Fact]
    public void A_template_file_of_ones_own_is_used_and_saved_with_the_run_as_chat_template_jinja()
    {
        var file = Path.Combine(_folder, "..", $"mine-{Guid.NewGuid():N}.jinja");
        File.WriteAllText(file, "{% for m in messages %}Q: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}A:{% endif %}");
        var saved = Directory.CreateTempSubdirectory("hf-policy-tokenizer-run-").FullName;
        try
        {
            var tokenizer = HfPolicyTokenizer.Load(_folder, chatTemplate: file);
            Assert.Equal(tokenizer.Inner.Encode("Q: 2+2?\nA:"), tokenizer.EncodePrompt("2+2?"));

            tokenizer.Save(saved);
            var resumed = HfPolicyTokenizer.Load(saved, chatTemplate: "auto");
            Assert.Equal(tokenizer.EncodePrompt("2+2?"), resumed.EncodePrompt("2+2?"));
        }
        finally
        {
            File.Delete(file);
            Directory.Delete(saved, true);
        }
    }

    [Fact]
    public void A_template_file_that_does_not_exist_is_a_configuration_error_naming_it()
    {
        var missing = Path.Combine(_folder, "nope.jinja");
        var error = Assert.ThrowsAny<Exception>(() => HfPolicyTokenizer.Load(_folder, chatTemplate: missing));
        Assert.True(error is ConfigException, $"{error.GetType().Name}: {error.Message}");
        Assert.Contains("nope.jinja", error.Message);
    }
}
