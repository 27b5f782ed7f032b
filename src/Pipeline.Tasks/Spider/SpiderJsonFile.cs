using System.Text.Json;
using Pipeline.Core.Configuration;

namespace Pipeline.Tasks.Spider;

/// <summary>One element of a JSON array file, with where it starts (1-based line) and its 1-based index in the array.</summary>
public sealed record SpiderJsonRecord(JsonElement Value, int Line, int Index, string File)
{
    /// <summary>"file:line: record N" — what every message about this record starts with.</summary>
    public string Where => $"{File}:{Line}: record {Index}";

    /// <summary>A required text field; a missing, empty or non-text one is a <see cref="ConfigException"/> naming where.</summary>
    public string Text(string field)
    {
        if (Value.ValueKind != JsonValueKind.Object)
            throw new ConfigException($"{Where}: expected a JSON object, got {Kind(Value)}");
        if (!Value.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new ConfigException($"{Where}: field '{field}' missing");
        if (v.ValueKind != JsonValueKind.String)
            throw new ConfigException($"{Where}: field '{field}' must be text, got {Kind(v)}");
        var text = v.GetString()!;
        if (text.Trim().Length == 0) throw new ConfigException($"{Where}: field '{field}' is empty");
        return text;
    }

    /// <summary>An optional text field (null when absent or null).</summary>
    public string? OptionalText(string field)
    {
        if (Value.ValueKind != JsonValueKind.Object || !Value.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new ConfigException($"{Where}: field '{field}' must be text, got {Kind(v)}");
    }

    /// <summary>A required array field.</summary>
    public JsonElement Array(string field)
    {
        if (Value.ValueKind != JsonValueKind.Object)
            throw new ConfigException($"{Where}: expected a JSON object, got {Kind(Value)}");
        if (!Value.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new ConfigException($"{Where}: field '{field}' missing");
        return v.ValueKind == JsonValueKind.Array ? v : throw new ConfigException($"{Where}: field '{field}' must be an array, got {Kind(v)}");
    }

    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "text",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}

/// <summary>
/// Reads a Spider file (one JSON array of objects) so that every problem names the file and line: malformed JSON by its line
/// and column, each record by the line it starts on and its position in the array.
/// </summary>
public static class SpiderJsonFile
{
    /// <exception cref="ConfigException">Missing file, malformed JSON, or not an array.</exception>
    public static (JsonDocument Document, IReadOnlyList<SpiderJsonRecord> Records) Read(string path, string what)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: {what} not found");
        var bytes = File.ReadAllBytes(path);
        var start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        var memory = bytes.AsMemory(start);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(memory);
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{path}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: {what} is not valid JSON: {FirstSentence(e.Message)}");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            var kind = SpiderJsonRecord.Kind(document.RootElement);
            document.Dispose();
            throw new ConfigException($"{path}:1: {what} must be a JSON array of objects, got {kind}");
        }

        // The document has no positions: one reader pass finds where each element starts.
        var lines = new List<int>();
        var reader = new Utf8JsonReader(memory.Span);
        var line = 1;
        var counted = 0;
        while (reader.Read())
        {
            if (reader.CurrentDepth != 1 || reader.TokenType is JsonTokenType.EndArray or JsonTokenType.EndObject) continue;
            var at = (int)reader.TokenStartIndex;
            line += memory.Span[counted..at].Count((byte)'\n');
            counted = at;
            lines.Add(line);
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
        }
        var records = document.RootElement.EnumerateArray().Select((e, i) => new SpiderJsonRecord(e, lines[i], i + 1, path)).ToList();
        return (document, records);
    }

    /// <summary>System.Text.Json appends its own "Path: $ | LineNumber: ..." which the prefix already says better.</summary>
    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
