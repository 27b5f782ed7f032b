using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Hf.Chat;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Learning.Hf;

/// <summary>
/// A Hugging Face model's own tokenizer as the policy's: <c>tokenizer.json</c> with the bos/eos ids of
/// <c>tokenizer_config.json</c>, <c>generation_config.json</c> and <c>config.json</c>. With a chat template a prompt is
/// one user turn rendered with the generation prompt (<c>pipeline.policy.chat-template</c>); without, BOS (where the
/// model adds one) and the prompt's text. Sampling stops at any eos id.
/// </summary>
public sealed class HfPolicyTokenizer : IPolicyTokenizer
{
    /// <summary>The files a model folder's tokenizer consists of; those present are copied into a run's tokenizer folder.</summary>
    public static readonly string[] Files =
        [HfTokenizer.FileName, SpecialTokenIds.TokenizerConfigFile, SpecialTokenIds.GenerationConfigFile, "special_tokens_map.json", "chat_template.jinja"];

    private readonly HfTokenizer _inner;
    private readonly string _folder;
    private readonly int? _bos;
    private readonly int? _templateBos;
    private readonly string? _templateFile;

    private HfPolicyTokenizer(HfTokenizer inner, string folder, int? bos, int? templateBos, IReadOnlyList<int> eos, ChatTemplate? template, string? templateFile)
    {
        _inner = inner;
        _folder = folder;
        _bos = bos;
        _templateBos = templateBos;
        StopTokens = eos;
        Template = template;
        _templateFile = templateFile;
    }

    /// <summary>The chat template prompts are rendered with, or null (plain text prompts).</summary>
    public ChatTemplate? Template { get; }

    /// <summary>
    /// Reads the tokenizer of <paramref name="folder"/>; <paramref name="config"/> supplies bos/eos ids the tokenizer files
    /// leave out. <paramref name="chatTemplate"/>: auto (the folder's template when it has one), none, or a template file.
    /// </summary>
    public static HfPolicyTokenizer Load(string folder, LlamaConfig? config = null, string chatTemplate = "none")
    {
        var inner = HfTokenizer.Load(folder);
        var ids = inner.SpecialIds;
        var eos = ids.Eos.Count > 0 ? ids.Eos : config?.EosTokenIds ?? [];
        if (eos.Count == 0)
            throw new ConfigException($"model folder {folder} names no eos token (tokenizer_config.json eos_token, generation_config.json or config.json eos_token_id): sampling could never stop");
        var bos = ids.Bos ?? config?.BosTokenId;
        if (ids.AddBos && bos is null)
            throw new ConfigException($"{Path.Combine(folder, SpecialTokenIds.TokenizerConfigFile)}: add_bos_token is true but no bos token is named");
        ChatTemplate? template;
        string? templateFile = null;
        try
        {
            template = chatTemplate switch
            {
                "none" => null,
                "auto" => ChatTemplate.Load(folder),
                _ => ChatTemplate.FromFile(templateFile = Path.GetFullPath(chatTemplate), folder),
            };
        }
        catch (ChatTemplateException e)
        {
            throw new ConfigException($"pipeline.policy.chat-template: {e.Message}");
        }
        return new HfPolicyTokenizer(inner, folder, ids.AddBos ? bos : null, bos, eos, template, templateFile);
    }

    /// <summary>The tokenizer.json tokenizer underneath.</summary>
    public HfTokenizer Inner => _inner;

    public int VocabSize => _inner.VocabSize;

    public int Eos => StopTokens[0];

    public IReadOnlyList<int> StopTokens { get; }

    public int[] Encode(string text) => string.IsNullOrEmpty(text) ? [] : [.. _inner.Encode(text)];

    public int[] EncodePrompt(Prompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (Template is null || !prompt.Tags.TryGetValue(PromptFields.Messages, out var json) || json.Length == 0) return EncodePrompt(prompt.Text);
        List<ChatMessage> turns;
        try
        {
            turns = JsonSerializer.Deserialize<List<ChatMessage>>(json, TurnJson) ?? [];
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"prompt '{prompt.Id}': its {PromptFields.Messages} tag is not a list of {{role, content}}: {e.Message}", e);
        }
        return Templated(turns);
    }

    public int[] EncodePrompt(string promptText)
    {
        if (Template is not null) return Templated([new ChatMessage("user", promptText)]);
        var body = Encode(promptText);
        if (_bos is not { } bos) return body.Length > 0 ? body : throw new ArgumentException("an empty prompt gives no token to continue (the model adds no BOS)");
        return [bos, .. body];
    }

    private static readonly JsonSerializerOptions TurnJson = new() { PropertyNameCaseInsensitive = true };

    private int[] Templated(IReadOnlyList<ChatMessage> turns)
    {
        try
        {
            return [.. ChatPrompt.Encode(Template!, _inner, turns, addGenerationPrompt: true, bosId: _templateBos)];
        }
        catch (ChatTemplateException e)
        {
            throw new ConfigException($"pipeline.policy.chat-template: {e.Message}");
        }
    }

    public string Decode(ReadOnlySpan<int> ids) => _inner.Decode(ids.ToArray());

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var name in Files)
        {
            var from = Path.Combine(_folder, name);
            var to = Path.Combine(directory, name);
            if (!File.Exists(from) || Path.GetFullPath(from) == Path.GetFullPath(to)) continue;
            var tmp = to + ".tmp";
            File.Copy(from, tmp, overwrite: true);
            File.Move(tmp, to, overwrite: true);
        }
        // A template of the user's own travels with the run (and its export) as the folder's chat_template.jinja.
        if (_templateFile is not null) File.Copy(_templateFile, Path.Combine(directory, ChatTemplate.TemplateFileName), overwrite: true);
    }
}
