using System.Text.Json;
using Pipeline.Core.Protocol;

namespace Pipeline.Core.Tasks;

/// <summary>
/// The prompt tags a users' data task (jsonl) fills and reward sources read. Tags are strings, so lists travel as JSON arrays
/// and the metadata object as JSON text.
/// </summary>
public static class PromptFields
{
    /// <summary>What evaluation is broken down by (a language, a difficulty).</summary>
    public const string Slice = "slice";

    /// <summary>All acceptable answers, a JSON array of strings (the first is also <see cref="Prompt.Reference"/>).</summary>
    public const string References = "references";

    /// <summary>Texts a completion should not resemble, one per line (the similarity source's negatives-tag).</summary>
    public const string Negatives = "negatives";

    /// <summary>The record's metadata object as JSON text, passed through to every reward source.</summary>
    public const string Metadata = "metadata";

    /// <summary>The record's rubric: inline criteria (JSON) or a rubric file id.</summary>
    public const string Rubric = "rubric";

    /// <summary>The chat turns the prompt text was rendered from, a JSON array of {role, content}.</summary>
    public const string Messages = "messages";

    /// <summary>Every acceptable answer: the <see cref="References"/> tag when present, else the single reference (or none).</summary>
    public static IReadOnlyList<string> ReferencesOf(Prompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Tags.TryGetValue(References, out var json) && json.Length > 0)
        {
            var list = JsonSerializer.Deserialize<List<string>>(json);
            if (list is { Count: > 0 }) return list;
        }
        return string.IsNullOrEmpty(prompt.Reference) ? [] : [prompt.Reference];
    }

    /// <summary>The metadata object as JSON text ("{}" when the record has none).</summary>
    public static string MetadataOf(Prompt prompt) => prompt.Tag(Metadata, "{}") is { Length: > 0 } m ? m : "{}";
}
