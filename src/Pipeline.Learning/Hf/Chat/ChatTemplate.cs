using System.Text.Json;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf.Chat;

/// <summary>
/// A Hugging Face chat template: turns a conversation into the prompt text the model was trained on, exactly as
/// transformers' <c>apply_chat_template(..., tokenize=False)</c> does.
/// </summary>
/// <remarks>
/// HF templates are Jinja2, and no Jinja engine for .NET is served to us (Fluid is Liquid, Scriban is its own
/// language; both lack <c>message['role']</c>, <c>namespace()</c>, <c>loop.last</c>, slicing and Python string
/// methods), so <see cref="JinjaParser"/> and <see cref="JinjaInterpreter"/> implement the subset templates use, with
/// the environment transformers builds: trim_blocks, lstrip_blocks, loop controls, <c>raise_exception</c>,
/// <c>tojson</c> (ensure_ascii=False), <c>strftime_now</c>, and a <c>{% generation %}</c> block that renders its body.
/// Anything outside the subset fails with a <see cref="ChatTemplateException"/> naming the template and line.
/// </remarks>
public sealed class ChatTemplate
{
    /// <summary>transformers 5 writes the template to its own file; older folders keep it in tokenizer_config.json.</summary>
    public const string TemplateFileName = "chat_template.jinja";
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    private readonly IReadOnlyList<Stmt> _body;
    private readonly Dictionary<string, object?> _specialTokens;
    private readonly Func<DateTime> _clock;

    /// <summary>Where the template came from (a file, or tokenizer_config.json's field), as errors name it.</summary>
    public string Name { get; }

    public string Source { get; }

    /// <summary>The tokenizer's bos_token, if its config names one (a rendering may start with it).</summary>
    public string? BosToken => _specialTokens.GetValueOrDefault("bos_token") as string;

    public string? EosToken => _specialTokens.GetValueOrDefault("eos_token") as string;

    private ChatTemplate(string source, string name, Dictionary<string, object?> specialTokens, Func<DateTime>? clock)
    {
        Source = source;
        Name = name;
        _specialTokens = specialTokens;
        _clock = clock ?? (() => DateTime.Now);
        _body = JinjaParser.Parse(source, name);
    }

    /// <summary>
    /// A template from its text. <paramref name="specialTokens"/> become template variables (bos_token, eos_token, ...);
    /// <paramref name="clock"/> feeds <c>strftime_now</c> (default: local time, as transformers).
    /// </summary>
    public static ChatTemplate FromString(string source, string name = "<template>", IReadOnlyDictionary<string, object?>? specialTokens = null, Func<DateTime>? clock = null) =>
        new(source, name, specialTokens?.ToDictionary(p => p.Key, p => Py.FromClr(p.Value)) ?? [], clock);

    /// <summary>
    /// The model folder's template: <c>chat_template.jinja</c>, else <c>tokenizer_config.json</c>'s <c>chat_template</c>
    /// (a string, or a list of <c>{name, template}</c> of which "default" is taken); null when the folder has none.
    /// Special tokens come from tokenizer_config.json.
    /// </summary>
    public static ChatTemplate? Load(string modelFolder, Func<DateTime>? clock = null)
    {
        var (tokens, fromConfig, configPath) = ReadTokenizerConfig(modelFolder);
        var file = Path.Combine(modelFolder, TemplateFileName);
        if (File.Exists(file)) return new ChatTemplate(File.ReadAllText(file), file, tokens, clock);
        return fromConfig is null ? null : new ChatTemplate(fromConfig, $"{configPath} (chat_template)", tokens, clock);
    }

    /// <summary>
    /// A user's own template file; special tokens come from <paramref name="modelFolder"/>'s tokenizer_config.json
    /// when given.
    /// </summary>
    public static ChatTemplate FromFile(string path, string? modelFolder = null, Func<DateTime>? clock = null)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: chat template file not found");
        var tokens = modelFolder is null ? [] : ReadTokenizerConfig(modelFolder).Tokens;
        return new ChatTemplate(File.ReadAllText(path), path, tokens, clock);
    }

    /// <summary>
    /// Renders <paramref name="messages"/> as transformers does: variables <c>messages</c>, <c>add_generation_prompt</c>,
    /// <c>tools</c> and <c>documents</c> (none unless given), the special tokens, then <paramref name="extra"/>
    /// (for example <c>tools</c>, <c>enable_thinking</c>, <c>date_string</c>; JSON elements, lists and dictionaries
    /// are accepted).
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var context = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["tools"] = null,
            ["documents"] = null,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        foreach (var (k, v) in _specialTokens) context[k] = v;
        if (extra is not null)
        {
            foreach (var (k, v) in extra)
            {
                try
                {
                    context[k] = Py.FromClr(v);
                }
                catch (JinjaError e)
                {
                    throw new ArgumentException($"chat template variable '{k}': {e.Message}", nameof(extra));
                }
            }
        }
        return JinjaInterpreter.Render(_body, Name, context, Builtins.Globals(_clock));
    }

    private static readonly string[] SpecialTokenNames = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private static (Dictionary<string, object?> Tokens, string? Template, string Path) ReadTokenizerConfig(string folder)
    {
        var path = Path.Combine(folder, TokenizerConfigFileName);
        var tokens = new Dictionary<string, object?>();
        if (!File.Exists(path)) return (tokens, null, path);
        using var doc = JsonFields.Parse(path);
        var root = JsonFields.Root(doc, path);
        foreach (var p in root.Element.EnumerateObject())
        {
            // transformers passes its special_tokens_map: these seven as their text, and additional_special_tokens.
            if (SpecialTokenNames.Contains(p.Name))
            {
                var text = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString(),
                    JsonValueKind.Object when p.Value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                    JsonValueKind.Null => null,
                    _ => throw root.Error(p.Name, $"must be a string or an object with 'content', got {p.Value.GetRawText()}"),
                };
                if (text is not null) tokens[p.Name] = text;
            }
            else if (p.Name == "additional_special_tokens" && p.Value.ValueKind == JsonValueKind.Array)
            {
                tokens[p.Name] = p.Value.EnumerateArray()
                    .Select(t => (object?)(t.ValueKind == JsonValueKind.Object && t.TryGetProperty("content", out var c) ? c.GetString() : t.GetString()))
                    .ToList();
            }
        }
        string? template = null;
        if (root.Get("chat_template") is { } ct)
        {
            template = ct.ValueKind switch
            {
                JsonValueKind.String => ct.GetString(),
                JsonValueKind.Array => DefaultFromList(ct, root),
                _ => throw root.Error("chat_template", $"must be a string or a list of {{name, template}} objects, got {ct.ValueKind}"),
            };
        }
        return (tokens, template, path);
    }

    private static string DefaultFromList(JsonElement list, JsonFields root)
    {
        var names = new List<string>();
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("template", out var t) || t.ValueKind != JsonValueKind.String)
                throw root.Error("chat_template", $"list entries must be {{\"name\": ..., \"template\": ...}} objects, got {item.GetRawText()}");
            if (n.GetString() == "default") return t.GetString()!;
            names.Add(n.GetString()!);
        }
        throw root.Error("chat_template", $"has no template named 'default' (found: {string.Join(", ", names)})");
    }
}
