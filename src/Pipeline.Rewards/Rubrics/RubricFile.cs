using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using Json.Schema;
using Pipeline.Core.Configuration;

namespace Pipeline.Rewards.Rubrics;

public enum RubricFormat { Hocon, Json }

/// <summary>
/// Reads rubric files. HOCON (<c>.conf</c>, anything not <c>.json</c>) and JSON (<c>.json</c>) have the same shape:
/// <code>
/// rubric {
///   name = sql
///   judge-batching = one-per-criterion        # or all-in-one; only matters when there are principles
///   criteria = [
///     { id = parses, description = "The SQL parses", kind = essential, weight = 5, check = { type = sql-parses } }
///     { id = select_star, description = "Uses SELECT *", kind = pitfall, weight = -1,
///       check = { type = regex, pattern = "(?i)select\\s+\\*", flags = [ignore-case] } }
///     { id = answers, description = "Answers the question", kind = essential, weight = 5, skip-without-judge = true,
///       check = { type = principle, text = "The query answers the question that was asked." } }
///   ]
/// }
/// </code>
/// Check types: regex (pattern, flags: ignore-case multiline singleline ignore-whitespace must-match must-not-match),
/// contains / excludes (value: a string or a list, ignore-case), length (min-chars, max-chars, min-tokens, max-tokens),
/// json-schema (schema: an object or JSON text, or schema-file relative to the rubric file), sql-parses, read-only,
/// predicate (name), principle (text). Any problem (a weight outside its kind's range, an unknown check type or field,
/// a bad regex or schema, a duplicate id, a missing field, an unregistered predicate) throws a
/// <see cref="ConfigException"/> naming the file, the criterion and the fault.
/// </summary>
public static class RubricFile
{
    public static readonly IReadOnlyList<string> CheckTypes =
        ["regex", "contains", "excludes", "length", "json-schema", "sql-parses", "read-only", "predicate", "principle"];

    private static readonly JsonDocumentOptions JsonOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    /// <exception cref="ConfigException">The file is missing, unreadable or not a valid rubric.</exception>
    public static Rubric Load(string path, RubricPredicateRegistry predicates)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var origin = $"rubric file '{full}'";
        string text;
        try { text = File.ReadAllText(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{origin}: cannot be read: {e.Message}");
        }
        var format = string.Equals(Path.GetExtension(full), ".json", StringComparison.OrdinalIgnoreCase) ? RubricFormat.Json : RubricFormat.Hocon;
        return Parse(text, format, origin, predicates, Path.GetDirectoryName(full));
    }

    /// <summary>Parses rubric text. <paramref name="origin"/> prefixes every error message;
    /// <paramref name="baseDirectory"/> resolves <c>schema-file</c> paths (without it they are refused).</summary>
    /// <exception cref="ConfigException">Not a valid rubric.</exception>
    public static Rubric Parse(string text, RubricFormat format, string origin, RubricPredicateRegistry predicates, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(predicates);
        var root = format == RubricFormat.Json ? ParseJson(text, origin) : ParseHocon(text, origin);
        if (root?["rubric"] is not JsonObject rubric)
            throw new ConfigException($"{origin}: no 'rubric {{ ... }}' object at the top level");
        return new Reader(origin, predicates, baseDirectory).Rubric(rubric);
    }

    private static JsonObject? ParseJson(string text, string origin)
    {
        try { return JsonNode.Parse(text, documentOptions: JsonOptions) as JsonObject; }
        catch (JsonException e) { throw new ConfigException($"{origin}: not valid JSON: {e.Message}"); }
    }

    private static JsonObject? ParseHocon(string text, string origin)
    {
        Config config;
        try { config = ConfigurationFactory.ParseString(text); }
        catch (Exception e) { throw new ConfigException($"{origin}: not valid HOCON: {e.Message}"); }
        return config.Root is { } root && root.IsObject() ? ToJson(root) as JsonObject : null;
    }

    /// <summary>
    /// HOCON keeps no types for literals: true/false become booleans, JSON-looking numbers numbers, the rest strings.
    /// (So an inline JSON Schema that needs the string "5" should be given as JSON text: <c>schema = """{"const": "5"}"""</c>.)
    /// </summary>
    private static JsonNode? ToJson(HoconValue value)
    {
        // Akka's IsArray() is false for "[] " (an empty array followed by white space), so arrays are taken apart here.
        var parts = value.Values.Where(e => !(e is HoconLiteral l && string.IsNullOrWhiteSpace(l.Value))).ToList();
        if (parts.Count > 0 && parts.All(e => e is HoconArray))
        {
            var items = new JsonArray();
            foreach (var item in parts.Cast<HoconArray>().SelectMany(a => a)) items.Add(ToJson(item));
            return items;
        }
        if (value.IsObject())
        {
            var obj = new JsonObject();
            foreach (var (key, child) in value.GetObject().Items) obj[key] = ToJson(child);
            return obj;
        }
        var s = value.GetString();
        if (s is null) return null;
        if (s is "true" or "false") return JsonValue.Create(s == "true");
        // Parsed from its own text, a number keeps its spelling ("1.50" stays "1.50" where a string is expected).
        return JsonNumber.IsMatch(s) ? JsonNode.Parse(s) : JsonValue.Create(s);
    }

    private static readonly Regex JsonNumber = new(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$", RegexOptions.CultureInvariant);

    private sealed class Reader(string origin, RubricPredicateRegistry predicates, string? baseDirectory)
    {
        private static readonly string[] RubricFields = ["name", "description", "judge-batching", "criteria"];
        private static readonly string[] CriterionFields = ["id", "description", "kind", "weight", "check", "skip-without-judge"];

        public Rubric Rubric(JsonObject node)
        {
            var r = new Fields(node, origin, "rubric");
            r.RejectUnknown(RubricFields);
            var name = r.RequireString("name");
            var batching = r.OptionalString("judge-batching") switch
            {
                null or "one-per-criterion" => CriterionBatching.OnePerCriterion,
                "all-in-one" => CriterionBatching.AllInOne,
                var other => throw r.Error($"judge-batching = '{other}' is not one of: one-per-criterion, all-in-one"),
            };
            if (r.Get("criteria") is not JsonArray list) throw r.Error(r.Has("criteria") ? "criteria must be a list" : "missing field 'criteria'");
            if (list.Count == 0) throw r.Error("criteria is empty");

            var criteria = new List<RubricCriterion>();
            var ids = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < list.Count; i++)
            {
                if (list[i] is not JsonObject item) throw r.Error($"criteria[{i}] must be an object");
                var criterion = Criterion(item, i);
                if (!ids.Add(criterion.Id)) throw new ConfigException($"{origin}: criterion '{criterion.Id}': duplicate id");
                criteria.Add(criterion);
            }
            return new Rubric(name, criteria, batching, origin);
        }

        private RubricCriterion Criterion(JsonObject node, int index)
        {
            var id = new Fields(node, origin, $"criteria[{index}]").RequireString("id");
            var c = new Fields(node, origin, $"criterion '{id}'");
            c.RejectUnknown(CriterionFields);
            var description = c.RequireString("description");
            var kindText = c.RequireString("kind");
            var kind = kindText.ToLowerInvariant() switch
            {
                "essential" => CriterionKind.Essential,
                "important" => CriterionKind.Important,
                "optional" => CriterionKind.Optional,
                "pitfall" => CriterionKind.Pitfall,
                _ => throw c.Error($"kind = '{kindText}' is not one of: essential, important, optional, pitfall"),
            };
            var weight = c.RequireNumber("weight");
            if (!CriterionKinds.Allows(kind, weight))
                throw c.Error($"weight {CriterionKinds.Fmt(weight)} does not match kind {CriterionKinds.Name(kind)} ({CriterionKinds.Describe(kind)})");
            if (c.Get("check") is not JsonObject checkNode)
                throw c.Error(c.Has("check") ? "check must be an object like { type = regex, pattern = \"...\" }" : "missing field 'check'");
            var check = Check(new Fields(checkNode, origin, $"criterion '{id}': check"));
            var skip = c.OptionalBool("skip-without-judge") ?? false;
            if (skip && check is not PrincipleCheck)
                throw c.Error($"skip-without-judge only applies to principle checks, not '{check.Type}'");
            return new RubricCriterion(id, description, weight, kind, check, skip);
        }

        private RubricCheck Check(Fields f)
        {
            var type = f.RequireString("type");
            switch (type)
            {
                case "regex":
                {
                    f.RejectUnknown("type", "pattern", "flags");
                    var pattern = f.RequireString("pattern");
                    var options = RegexOptions.None;
                    bool? mustMatch = null;
                    foreach (var flag in f.OptionalStringList("flags", splitWords: true) ?? [])
                    {
                        switch (flag)
                        {
                            case "ignore-case": options |= RegexOptions.IgnoreCase; break;
                            case "multiline": options |= RegexOptions.Multiline; break;
                            case "singleline": options |= RegexOptions.Singleline; break;
                            case "ignore-whitespace": options |= RegexOptions.IgnorePatternWhitespace; break;
                            case "must-match" or "must-not-match":
                                var wanted = flag == "must-match";
                                if (mustMatch is { } m && m != wanted) throw f.Error("flags has both must-match and must-not-match");
                                mustMatch = wanted;
                                break;
                            default:
                                throw f.Error($"unknown regex flag '{flag}' (known: ignore-case, multiline, singleline, ignore-whitespace, must-match, must-not-match)");
                        }
                    }
                    try { return new RegexCheck(pattern, options, mustMatch ?? true); }
                    catch (ArgumentException e) { throw f.Error($"bad regex pattern \"{pattern}\": {e.Message}"); }
                }
                case "contains" or "excludes":
                {
                    f.RejectUnknown("type", "value", "ignore-case");
                    var values = f.OptionalStringList("value", splitWords: false) ?? throw f.Error("missing field 'value' (a string or a list of strings)");
                    if (values.Count == 0 || values.Any(string.IsNullOrEmpty)) throw f.Error("value must be a non-empty string or a list of non-empty strings");
                    return new ContainsCheck(values, f.OptionalBool("ignore-case") ?? false, exclude: type == "excludes");
                }
                case "length":
                {
                    f.RejectUnknown("type", "min-chars", "max-chars", "min-tokens", "max-tokens");
                    try
                    {
                        return new LengthCheck(f.OptionalInt("min-chars"), f.OptionalInt("max-chars"), f.OptionalInt("min-tokens"), f.OptionalInt("max-tokens"));
                    }
                    catch (ArgumentException e) { throw f.Error(e.Message); }
                }
                case "json-schema":
                    f.RejectUnknown("type", "schema", "schema-file");
                    return SchemaCheck(f);
                case "sql-parses" or "read-only":
                    f.RejectUnknown("type");
                    return new PredicateCheck(type, Predicate(f, type), type);
                case "predicate":
                {
                    f.RejectUnknown("type", "name");
                    var name = f.RequireString("name");
                    return new PredicateCheck(name, Predicate(f, name));
                }
                case "principle":
                    f.RejectUnknown("type", "text");
                    return new PrincipleCheck(f.RequireString("text"));
                default:
                    throw f.Error($"unknown check type '{type}' (known: {string.Join(", ", CheckTypes)})");
            }
        }

        private Func<RubricInput, bool> Predicate(Fields f, string name)
            => predicates.TryGet(name, out var predicate)
                ? predicate
                : throw f.Error($"predicate '{name}' is not registered (registered: {(predicates.Names.Count == 0 ? "none" : string.Join(", ", predicates.Names))})");

        private JsonSchemaCheck SchemaCheck(Fields f)
        {
            var inline = f.Get("schema");
            var file = f.OptionalString("schema-file");
            if ((inline is null) == (file is null)) throw f.Error("give exactly one of 'schema' (inline) and 'schema-file'");
            string text, what;
            if (file is not null)
            {
                if (baseDirectory is null) throw f.Error($"schema-file '{file}' needs a rubric loaded from a file (relative paths resolve against its folder)");
                var path = Path.GetFullPath(Path.Combine(baseDirectory, file));
                try { text = File.ReadAllText(path); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw f.Error($"schema-file '{path}' cannot be read: {e.Message}");
                }
                what = $"schema-file '{path}'";
            }
            else
            {
                text = inline is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : inline!.ToJsonString();
                what = "schema";
            }
            try { return JsonSchemaCheck.FromText(text); }
            catch (Exception e) when (e is JsonException or JsonSchemaException or RefResolutionException or ArgumentException
                                          or InvalidOperationException or FormatException or KeyNotFoundException)
            {
                throw f.Error($"{what} is not a valid JSON Schema: {e.Message}");
            }
        }
    }

    /// <summary>Typed, lenient access to one object's fields (HOCON gives strings where JSON gives numbers or booleans).</summary>
    private sealed class Fields(JsonObject node, string origin, string where)
    {
        public ConfigException Error(string message) => new($"{origin}: {where}: {message}");

        public bool Has(string key) => node.ContainsKey(key);
        public JsonNode? Get(string key) => node.TryGetPropertyValue(key, out var v) ? v : null;

        public void RejectUnknown(params string[] known)
        {
            foreach (var (key, _) in node)
                if (!known.Contains(key, StringComparer.Ordinal))
                    throw Error($"unknown field '{key}' (known: {string.Join(", ", known)})");
        }

        public string RequireString(string key)
            => OptionalString(key) is { Length: > 0 } s && !string.IsNullOrWhiteSpace(s) ? s
                : throw Error(Has(key) ? $"'{key}' must be a non-empty string" : $"missing field '{key}'");

        public string? OptionalString(string key) => Get(key) switch
        {
            null => null,
            JsonValue v => Scalar(v) ?? throw Error($"'{key}' must be a string"),
            _ => throw Error($"'{key}' must be a string"),
        };

        public double RequireNumber(string key)
        {
            if (Get(key) is not JsonValue v) throw Error(Has(key) ? $"'{key}' must be a number" : $"missing field '{key}'");
            if (v.GetValueKind() == JsonValueKind.Number) return v.GetValue<double>();
            if (v.GetValueKind() == JsonValueKind.String
                && double.TryParse(v.GetValue<string>(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
                return d;
            throw Error($"'{key}' must be a number, not {v.ToJsonString()}");
        }

        public int? OptionalInt(string key)
        {
            if (!Has(key)) return null;
            var d = RequireNumber(key);
            return d == Math.Floor(d) && d is >= 0 and <= int.MaxValue
                ? (int)d
                : throw Error($"'{key}' must be a whole number of at least 0, not {CriterionKinds.Fmt(d)}");
        }

        public bool? OptionalBool(string key) => Get(key) switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.True => true,
            JsonValue v when v.GetValueKind() == JsonValueKind.False => false,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>().ToLowerInvariant() switch
            {
                "true" or "on" or "yes" => true,
                "false" or "off" or "no" => false,
                var s => throw Error($"'{key}' must be true or false, not '{s}'"),
            },
            var other => throw Error($"'{key}' must be true or false, not {other.ToJsonString()}"),
        };

        /// <summary>A single string or a list of strings; with <paramref name="splitWords"/> a single string may hold several words.</summary>
        public IReadOnlyList<string>? OptionalStringList(string key, bool splitWords)
        {
            switch (Get(key))
            {
                case null: return null;
                case JsonArray array:
                    return array.Select((item, i) => item is JsonValue v && Scalar(v) is { } s ? s : throw Error($"'{key}'[{i}] must be a string")).ToArray();
                case JsonValue v when Scalar(v) is { } single:
                    return splitWords ? single.Split([' ', ',', '|', '\t'], StringSplitOptions.RemoveEmptyEntries) : [single];
                default:
                    throw Error($"'{key}' must be a string or a list of strings");
            }
        }

        private static string? Scalar(JsonValue v) => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.Number => v.ToJsonString(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        };
    }
}
