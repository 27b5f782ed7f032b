using System.Text.Json;
using Pipeline.Learning.Hf.Chat;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// Each supported family's real template renders multi-turn conversations exactly as Jinja2 does under transformers'
/// settings (tests/fixtures/chat: the families' tokenizer_config.json / chat_template.jinja, conversations.json, and
/// expected.json recorded by record.py with Debian's python3-jinja2).
/// </summary>
public sealed class ChatTemplateSpec
{
    public static string FixtureDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
            var root = dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
            return Path.Combine(root, "tests", "fixtures", "chat");
        }
    }

    private static readonly string[] Families = ["llama2", "mistral", "llama3", "llama3.1", "llama3.2", "qwen2", "qwen2.5", "qwen3"];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var family in Families)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDir, "families", family, "expected.json")));
            var count = doc.RootElement.GetProperty("cases").GetArrayLength();
            for (var i = 0; i < count; i++) data.Add(family, i);
        }
        return data;
    }

    private static List<ChatMessage> Conversation(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDir, "conversations.json")));
        return doc.RootElement.GetProperty(name).EnumerateArray()
            .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!))
            .ToList();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Family_template_renders_the_conversation_as_jinja2_does(string family, int index)
    {
        var folder = Path.Combine(FixtureDir, "families", family);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "expected.json")));
        var c = doc.RootElement.GetProperty("cases")[index];
        var template = ChatTemplate.Load(folder) ?? throw new InvalidOperationException($"{folder} has no chat template");
        var extra = c.GetProperty("extra").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
        var messages = Conversation(c.GetProperty("conversation").GetString()!);
        var addGenerationPrompt = c.GetProperty("add_generation_prompt").GetBoolean();

        if (c.TryGetProperty("error", out var error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(messages, addGenerationPrompt, extra));
            Assert.Contains(error.GetString()!, e.Message);
            Assert.Contains("raise_exception", e.Message);
        }
        else
        {
            Assert.Equal(c.GetProperty("expected").GetString(), template.Render(messages, addGenerationPrompt, extra));
        }
    }

    [Fact]
    public void Every_family_has_cases_with_and_without_the_generation_prompt()
    {
        foreach (var family in Families)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDir, "families", family, "expected.json")));
            var flags = doc.RootElement.GetProperty("cases").EnumerateArray()
                .Where(c => c.TryGetProperty("expected", out _))
                .Select(c => c.GetProperty("add_generation_prompt").GetBoolean()).Distinct().Count();
            Assert.True(flags == 2, $"{family}: expected renderings both with and without add_generation_prompt");
        }
    }

    [Fact]
    public void Qwen3_keeps_reasoning_only_after_the_last_user_turn()
    {
        var template = ChatTemplate.Load(Path.Combine(FixtureDir, "families", "qwen3"))!;
        var text = template.Render(Conversation("thinking"), addGenerationPrompt: true);
        Assert.DoesNotContain("<think>", text);
        Assert.Contains("<|im_start|>assistant\nThe answer is 4.<|im_end|>", text);
        var last = template.Render(Conversation("thinking_last"), addGenerationPrompt: false);
        Assert.Contains("<think>\nSeven is prime.\n</think>\n\n7<|im_end|>", last);
    }

    [Fact]
    public void Load_returns_null_for_a_folder_without_a_template()
    {
        var folder = Directory.CreateTempSubdirectory("chat-none-").FullName;
        try
        {
            Assert.Null(ChatTemplate.Load(folder));
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"bos_token": "<s>"}""");
            Assert.Null(ChatTemplate.Load(folder));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void Load_prefers_chat_template_jinja_over_tokenizer_config()
    {
        var folder = Directory.CreateTempSubdirectory("chat-both-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"bos_token": {"content": "<s>"}, "chat_template": "config"}""");
            File.WriteAllText(Path.Combine(folder, "chat_template.jinja"), "{{ bos_token }}file\n");
            var template = ChatTemplate.Load(folder)!;
            Assert.Equal("<s>file", template.Render([], false));
            Assert.Equal("<s>", template.BosToken);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void Load_reads_only_the_special_tokens_not_settings_whose_names_end_in_token()
    {
        var folder = Directory.CreateTempSubdirectory("chat-flags-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
                """{"add_bos_token": true, "bos_token": "<s>", "pad_token": null, "chat_template": "{{ bos_token }}|{{ add_bos_token is defined }}|{{ pad_token is defined }}"}""");
            Assert.Equal("<s>|False|False", ChatTemplate.Load(folder)!.Render([], false));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void Load_names_the_field_when_the_template_list_has_no_default()
    {
        var folder = Directory.CreateTempSubdirectory("chat-list-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"chat_template": [{"name": "tool_use", "template": "x"}]}""");
            var e = Assert.Throws<Pipeline.Core.Configuration.ConfigException>(() => ChatTemplate.Load(folder));
            Assert.Contains("'chat_template'", e.Message);
            Assert.Contains("tool_use", e.Message);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void A_users_template_file_renders_with_the_model_folders_special_tokens()
    {
        var dir = Directory.CreateTempSubdirectory("chat-user-").FullName;
        try
        {
            var file = Path.Combine(dir, "mine.jinja");
            File.WriteAllText(file, "{% for m in messages %}{{ bos_token }}{{ m.role|upper }}: {{ m.content }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}");
            var template = ChatTemplate.FromFile(file, Path.Combine(FixtureDir, "families", "llama2"));
            Assert.Equal("<s>USER: hi</s>\nASSISTANT:", template.Render([new ChatMessage("user", "hi")], true));
            Assert.Throws<Pipeline.Core.Configuration.ConfigException>(() => ChatTemplate.FromFile(Path.Combine(dir, "missing.jinja")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
