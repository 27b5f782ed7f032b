using System.Text.Json;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf;

/// <summary>
/// Typed reads from one JSON object of a model folder's file, each failure a <see cref="ConfigException"/> that names the
/// file and the field (a bad model folder exits with code 2, never with a crash deep in TorchSharp).
/// </summary>
internal sealed class JsonFields(JsonElement obj, string file, string prefix = "")
{
    public JsonElement Element => obj;
    public string File => file;

    public static JsonDocument Parse(string path)
    {
        if (!System.IO.File.Exists(path)) throw new ConfigException($"{path}: file not found");
        try
        {
            return JsonDocument.Parse(System.IO.File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{path}: not valid JSON ({e.Message})");
        }
    }

    public static JsonFields Root(JsonDocument doc, string path)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ConfigException($"{path}: expected a JSON object at the top level");
        return new JsonFields(doc.RootElement, path);
    }

    public string Name(string field) => prefix + field;

    public ConfigException Error(string field, string problem) => new($"{file}: field '{Name(field)}' {problem}");

    public bool Has(string field) => obj.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string field) => obj.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public int Int(string field) => OptInt(field) ?? throw Error(field, "is missing");

    public int? OptInt(string field)
    {
        if (Get(field) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) return i;
        // Some exporters write integral floats (2.0): accept those, refuse anything fractional.
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        throw Error(field, $"must be an integer, got {v.GetRawText()}");
    }

    public int PositiveInt(string field)
    {
        var i = Int(field);
        if (i <= 0) throw Error(field, $"must be positive, got {i}");
        return i;
    }

    public double Double(string field) => OptDouble(field) ?? throw Error(field, "is missing");

    public double? OptDouble(string field)
    {
        if (Get(field) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d)) return d;
        throw Error(field, $"must be a number, got {v.GetRawText()}");
    }

    public bool? OptBool(string field)
    {
        if (Get(field) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(field, $"must be true or false, got {v.GetRawText()}"),
        };
    }

    public string? OptString(string field)
    {
        if (Get(field) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        throw Error(field, $"must be a string, got {v.GetRawText()}");
    }

    public JsonFields? OptObject(string field)
    {
        if (Get(field) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Object) throw Error(field, $"must be an object, got {v.GetRawText()}");
        return new JsonFields(v, file, Name(field) + ".");
    }

    /// <summary>An integer or a list of integers (as HF writes <c>eos_token_id</c>).</summary>
    public IReadOnlyList<int> IntOrIntList(string field)
    {
        if (Get(field) is not { } v) return [];
        if (v.ValueKind == JsonValueKind.Array)
        {
            var list = new List<int>();
            foreach (var item in v.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var i)) throw Error(field, $"must be an integer or a list of integers, got {v.GetRawText()}");
                list.Add(i);
            }
            return list;
        }
        return [Int(field)];
    }
}
