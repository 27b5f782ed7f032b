using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Tasks.Jsonl;

/// <summary>A record that breaks the format: which canonical field, and what is wrong with it.</summary>
public sealed class TaskRecordException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>Which split a record belongs to decides what it must carry.</summary>
public enum TaskSplit { Train, Demonstrations, HeldOut }

/// <summary>
/// One record of a users' data file, after its fields were checked: the prompt (text, or chat turns rendered by the
/// task's <see cref="IChatRenderer"/>), its references, negatives, rubric, slice and metadata.
/// </summary>
public sealed record TaskRecord(string Id, string PromptText, string? MessagesJson, IReadOnlyList<string> References, IReadOnlyList<string> Negatives,
    string? Rubric, string Slice, string? MetadataJson, string? Completion)
{
    /// <summary>The slice of a record that names none.</summary>
    public const string DefaultSlice = "default";

    public Prompt ToPrompt()
    {
        var tags = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        tags[PromptFields.Slice] = Slice;
        if (References.Count > 1) tags[PromptFields.References] = JsonSerializer.Serialize(References);
        // The similarity source reads given negatives one per line.
        if (Negatives.Count > 0) tags[PromptFields.Negatives] = string.Join("\n", Negatives.Select(n => n.ReplaceLineEndings(" ")));
        if (Rubric is not null) tags[PromptFields.Rubric] = Rubric;
        if (MetadataJson is not null) tags[PromptFields.Metadata] = MetadataJson;
        if (MessagesJson is not null) tags[PromptFields.Messages] = MessagesJson;
        return new Prompt(Id, PromptText, References.Count > 0 ? References[0] : null, tags.ToImmutable());
    }

    /// <summary>
    /// Reads one record from a JSON object whose field names are mapped by <paramref name="columns"/> (canonical -> file's).
    /// Fields the format does not know are ignored. <paramref name="fallbackId"/> is used when the record has no id.
    /// </summary>
    /// <exception cref="TaskRecordException">A field is missing, of the wrong type, or empty.</exception>
    /// <param name="baseDirectory">The data file's folder: a rubric file id is a path relative to it.</param>
    public static TaskRecord Parse(JsonElement obj, IReadOnlyDictionary<string, string> columns, TaskSplit split, string fallbackId, IChatRenderer renderer,
        string? baseDirectory = null)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new TaskRecordException("(record)", $"expected a JSON object, got {obj.ValueKind.ToString().ToLowerInvariant()}");
        JsonElement? Get(string field) => obj.TryGetProperty(columns[field], out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        var id = Get("id") is { } idValue ? Scalar(idValue, "id") : fallbackId;
        if (id.Trim().Length == 0) throw new TaskRecordException("id", "is empty");

        var prompt = Get("prompt");
        var messages = Get("messages");
        if (prompt is not null && messages is not null)
            throw new TaskRecordException("prompt", $"the record has both '{columns["prompt"]}' and '{columns["messages"]}'; give one");
        string text;
        string? messagesJson = null;
        if (prompt is { } p)
        {
            text = Scalar(p, "prompt");
            if (text.Trim().Length == 0) throw new TaskRecordException("prompt", "is empty");
        }
        else if (messages is { } m)
        {
            var turns = Turns(m);
            text = renderer.Render(turns);
            messagesJson = m.GetRawText();
        }
        else
        {
            throw new TaskRecordException("prompt", $"missing: give '{columns["prompt"]}' (text) or '{columns["messages"]}' (chat turns)");
        }

        var references = new List<string>();
        if (Get("reference") is { } r) references.Add(Scalar(r, "reference"));
        if (Get("references") is { } rs) references.AddRange(Strings(rs, "references"));
        var negatives = Get("negatives") is { } n ? Strings(n, "negatives") : [];
        string? rubric = Get("rubric") switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } s => Path.GetFullPath(s.GetString()!, baseDirectory ?? Directory.GetCurrentDirectory()),
            { ValueKind: JsonValueKind.Object or JsonValueKind.Array } o => o.GetRawText(),
            { } other => throw new TaskRecordException("rubric", $"expected a rubric file id (text) or inline criteria (object or array), got {Kind(other)}"),
        };
        if (rubric is not null) CheckRubric(rubric);
        var slice = Get("slice") is { } sl ? Scalar(sl, "slice").Trim() : DefaultSlice;
        if (slice.Length == 0) throw new TaskRecordException("slice", "is empty (leave it out for the default slice)");
        string? metadata = Get("metadata") switch
        {
            null => null,
            { ValueKind: JsonValueKind.Object } o => o.GetRawText(),
            { } other => throw new TaskRecordException("metadata", $"expected an object, got {Kind(other)}"),
        };
        var completion = Get("completion") is { } c ? Scalar(c, "completion") : null;

        switch (split)
        {
            case TaskSplit.Demonstrations when completion is null && references.Count == 0:
                throw new TaskRecordException("completion", $"a demonstration needs '{columns["completion"]}' (or '{columns["reference"]}')");
            case TaskSplit.HeldOut when references.Count == 0:
                throw new TaskRecordException("reference", $"a held-out record needs '{columns["reference"]}' or '{columns["references"]}' to be scored");
        }
        return new TaskRecord(id, text, messagesJson, references, negatives, rubric, slice, metadata, completion);
    }

    /// <summary>Rubrics already found well-formed (many records share one), so each is read once per process.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> CheckedRubrics = new(StringComparer.Ordinal);

    /// <summary>A rubric file that is missing or a rubric that does not parse stops loading at this record (predicates and a
    /// judge are checked when the rubric source is built).</summary>
    private static void CheckRubric(string rubric)
    {
        if (CheckedRubrics.ContainsKey(rubric)) return;
        try
        {
            PerPromptRubricSource.Parse(rubric, "rubric", NoPredicates.Value);
        }
        catch (Exception e) when (e is Core.Configuration.ConfigException or JsonException)
        {
            throw new TaskRecordException("rubric", e.Message);
        }
        if (CheckedRubrics.Count < 10_000) CheckedRubrics[rubric] = true;
    }

    // The jsonl task registers no predicates, so a rubric naming one is refused here as it would be at run time.
    private static readonly Lazy<RubricPredicateRegistry> NoPredicates = new(() => new RubricPredicateRegistry());

    private static List<ChatTurn> Turns(JsonElement messages)
    {
        if (messages.ValueKind != JsonValueKind.Array) throw new TaskRecordException("messages", $"expected an array of {{role, content}}, got {Kind(messages)}");
        var turns = new List<ChatTurn>();
        var i = 0;
        foreach (var turn in messages.EnumerateArray())
        {
            if (turn.ValueKind != JsonValueKind.Object
                || !turn.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String
                || !turn.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new TaskRecordException("messages", $"turn {i} is not {{\"role\": text, \"content\": text}}");
            var name = role.GetString()!;
            if (name is not ("system" or "user" or "assistant"))
                throw new TaskRecordException("messages", $"turn {i} has role '{name}'; expected system | user | assistant");
            turns.Add(new ChatTurn(name, content.GetString()!));
            i++;
        }
        if (turns.Count == 0) throw new TaskRecordException("messages", "has no turns");
        if (turns[^1].Role == "assistant") throw new TaskRecordException("messages", "ends with an assistant turn; the completion is the assistant's reply");
        return turns;
    }

    private static string Scalar(JsonElement value, string field) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        _ => throw new TaskRecordException(field, $"expected text or a number, got {Kind(value)}"),
    };

    private static List<string> Strings(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.Array) throw new TaskRecordException(field, $"expected an array of texts, got {Kind(value)}");
        var list = new List<string>();
        foreach (var item in value.EnumerateArray())
            list.Add(item.ValueKind is JsonValueKind.String or JsonValueKind.Number
                ? Scalar(item, field)
                : throw new TaskRecordException(field, $"item {list.Count} is {Kind(item)}, expected text"));
        return list;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "text",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    internal static string Invariant(object value) => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
}
