using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Pipeline.Learning.Hf.Chat;

/// <summary>Jinja2's default Undefined: prints as "", is false, iterates as empty; any other use is an error.</summary>
internal sealed class Undefined(string description)
{
    public string Description { get; } = description;
    public JinjaError Fail() => new($"{Description} is undefined");
}

/// <summary><c>namespace(...)</c>: the one object a template may change from inside a loop.</summary>
internal sealed class Namespace : Dictionary<string, object?>;

/// <summary>A built-in function, filter or bound method: positional arguments and keyword arguments in, a value out.</summary>
internal delegate object? JinjaFunction(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

internal sealed class Callable(string name, JinjaFunction body)
{
    public string Name { get; } = name;
    public object? Invoke(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) => body(args, kwargs);
}

/// <summary>A Python tuple: a list that prints with parentheses (<c>dictsort</c>, <c>items()</c>, <c>(a, b)</c>).</summary>
internal sealed class Tuple : List<object?>
{
    public Tuple(IEnumerable<object?> items) : base(items)
    {
    }
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class LoopContext(List<object?> items)
{
    public int Index0 { get; set; }
    public object? Get(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex0" => (long)(items.Count - Index0 - 1),
        "revindex" => (long)(items.Count - Index0),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new Undefined("'loop.previtem'"),
        "nextitem" => Index0 < items.Count - 1 ? items[Index0 + 1] : new Undefined("'loop.nextitem'"),
        "cycle" => new Callable("loop.cycle", (args, _) =>
            args.Count == 0 ? throw new JinjaError("loop.cycle() needs at least one argument") : args[Index0 % args.Count]),
        _ => new Undefined($"'loop.{name}'"),
    };
}

/// <summary>Python semantics for the values a template handles: None, bool, long, double, string, list, dict.</summary>
internal static class Py
{
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new Dictionary<string, object?>(), (d, p) => { d[p.Name] = FromJson(p.Value); return d; }),
        _ => throw new JinjaError($"unsupported JSON value {e.GetRawText()}"),
    };

    /// <summary>Turns a caller's .NET value (strings, numbers, JSON, lists, dictionaries) into a template value.</summary>
    public static object? FromClr(object? v) => v switch
    {
        null => null,
        string or bool or long or double or Undefined or Namespace or Callable => v,
        int i => (long)i,
        short s => (long)s,
        float f => (double)f,
        decimal m => (double)m,
        JsonElement e => FromJson(e),
        JsonDocument d => FromJson(d.RootElement),
        ChatMessage m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content },
        IDictionary<string, object?> d => d.ToDictionary(p => p.Key, p => FromClr(p.Value)),
        IDictionary d => d.Keys.Cast<object>().ToDictionary(k => Convert.ToString(k, CultureInfo.InvariantCulture)!, k => FromClr(d[k])),
        IEnumerable e => e.Cast<object?>().Select(FromClr).ToList(),
        _ => throw new JinjaError($"a value of type {v.GetType().Name} cannot be passed to a chat template"),
    };

    /// <summary>Python's str.isspace for one character: .NET's whitespace plus the separators U+001C..U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    public static string TrimEnd(string s)
    {
        var end = s.Length;
        while (end > 0 && IsSpace(s[end - 1])) end--;
        return s[..end];
    }

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        ICollection c => c.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        Namespace => "Namespace",
        Tuple => "tuple",
        IList => "list",
        IDictionary => "dict",
        Callable => "function",
        LoopContext => "LoopContext",
        _ => v.GetType().Name,
    };

    /// <summary>Python's str(): what <c>{{ value }}</c> prints.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v) => v switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        string s => StrRepr(s),
        Undefined => "",
        Tuple t => "(" + string.Join(", ", t.Select(Repr)) + (t.Count == 1 ? ",)" : ")"),
        IList<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        IDictionary<string, object?> dict => "{" + string.Join(", ", dict.Select(p => StrRepr(p.Key) + ": " + Repr(p.Value))) + "}",
        Callable c => $"<function {c.Name}>",
        _ => v.ToString() ?? "",
    };

    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        var r = d.ToString("R", CultureInfo.InvariantCulture);
        if (r.Contains('E'))
        {
            // Python writes 1e-05 and 1e+16 where .NET writes 1E-05 and 1E+16.
            var parts = r.Split('E');
            var exp = int.Parse(parts[1], CultureInfo.InvariantCulture);
            if (exp is >= -4 and < 16) r = d.ToString("0.################", CultureInfo.InvariantCulture);
            else r = parts[0] + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
        }
        if (!r.Contains('.') && !r.Contains('e') && !r.Contains('n')) r += ".0";
        return r;
    }

    private static string StrRepr(string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append($"\\x{(int)c:x2}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(quote).ToString();
    }

    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (null, _) or (_, null) => false,
            (string x, string y) => x == y,
            (IList<object?> x, IList<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
            (IDictionary<string, object?> x, IDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(p => y.TryGetValue(p.Key, out var o) && Equal(p.Value, o)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python treats bool as an int (True == 1).</summary>
    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError($"expected a number, got {TypeName(v)}"),
    };

    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        if (a is Undefined u) throw u.Fail();
        if (b is Undefined w) throw w.Fail();
        throw new JinjaError($"cannot compare {TypeName(a)} with {TypeName(b)}");
    }

    /// <summary>Iteration as Python does it: list items, dict keys, string characters (by code point); Undefined is empty.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        Undefined => [],
        string s => CodePoints(s).Cast<object?>().ToList(),
        IList<object?> list => [.. list],
        IDictionary<string, object?> dict => dict.Keys.Cast<object?>().ToList(),
        _ => throw new JinjaError($"'{TypeName(v)}' object is not iterable"),
    };

    public static List<string> CodePoints(string s)
    {
        var result = new List<string>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result.Add(s.Substring(i, 2));
                i++;
            }
            else result.Add(s[i].ToString());
        }
        return result;
    }

    public static long Length(object? v) => v switch
    {
        Undefined => 0,
        string s => CodePoints(s).Count,
        ICollection c => c.Count,
        _ => throw new JinjaError($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <summary>Python's json.dumps(x, ensure_ascii=False, indent=indent, separators=..., sort_keys=...), as transformers' tojson.</summary>
    public static string ToJson(object? v, int? indent, string? itemSeparator, string? keySeparator, bool sortKeys)
    {
        var sb = new StringBuilder();
        var itemSep = itemSeparator ?? (indent is null ? ", " : ",");
        var keySep = keySeparator ?? ": ";
        WriteJson(sb, v, indent, itemSep, keySep, sortKeys, 0);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, int? indent, string itemSep, string keySep, bool sortKeys, int depth)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : FloatRepr(d));
                break;
            case string s: JsonString(sb, s); break;
            case IList<object?> list:
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }
                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, indent, depth + 1);
                    WriteJson(sb, list[i], indent, itemSep, keySep, sortKeys, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append(']');
                break;
            case IDictionary<string, object?> dict:
                if (dict.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }
                sb.Append('{');
                var first = true;
                var pairs = sortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : (IEnumerable<KeyValuePair<string, object?>>)dict;
                foreach (var (key, value) in pairs)
                {
                    if (!first) sb.Append(itemSep);
                    first = false;
                    NewLine(sb, indent, depth + 1);
                    JsonString(sb, key);
                    sb.Append(keySep);
                    WriteJson(sb, value, indent, itemSep, keySep, sortKeys, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append('}');
                break;
            case Undefined u: throw new JinjaError($"Object of type Undefined is not JSON serializable ({u.Description} is undefined)");
            default: throw new JinjaError($"Object of type {TypeName(v)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, int? indent, int depth)
    {
        if (indent is null) return;
        sb.Append('\n').Append(' ', indent.Value * depth);
    }

    private static void JsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
