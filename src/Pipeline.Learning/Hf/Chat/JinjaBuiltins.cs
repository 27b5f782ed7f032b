using System.Globalization;
using System.Text;

namespace Pipeline.Learning.Hf.Chat;

/// <summary>Operators, attribute and item access, filters, tests and the str/dict methods chat templates call.</summary>
internal static class Builtins
{
    private static readonly IReadOnlyDictionary<string, object?> NoKwargs = new Dictionary<string, object?>();

    // ---- access ----

    public static object? GetAttr(object? target, string name)
    {
        switch (target)
        {
            case Undefined u:
                throw new JinjaError($"{u.Description} is undefined (reading its attribute '{name}')");
            case LoopContext loop:
                return loop.Get(name);
            case Namespace ns:
                return ns.TryGetValue(name, out var nv) ? nv : new Undefined($"'namespace.{name}'");
            case IDictionary<string, object?> dict:
                // Jinja2 looks up a Python attribute first: dict methods win over keys of the same name.
                if (DictMethod(dict, name) is { } method) return method;
                return dict.TryGetValue(name, out var v) ? v : new Undefined($"'dict object' has no attribute '{name}'");
            case string s:
                return (object?)StringMethod(s, name) ?? new Undefined($"'str object' has no attribute '{name}'");
            case IList<object?> when name is "append" or "extend" or "insert" or "pop" or "remove" or "clear" or "sort" or "reverse":
                throw new JinjaError($"unsupported: list.{name} (chat templates render in an immutable sandbox)");
            default:
                return new Undefined($"'{Py.TypeName(target)} object' has no attribute '{name}'");
        }
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u:
                throw new JinjaError($"{u.Description} is undefined (reading item {Py.Repr(key)})");
            case Namespace ns when key is string k:
                return ns.TryGetValue(k, out var nv) ? nv : new Undefined($"'namespace.{k}'");
            case IDictionary<string, object?> dict when key is string k:
                if (dict.TryGetValue(k, out var v)) return v;
                return (object?)DictMethod(dict, k) ?? new Undefined($"'dict object' has no attribute '{k}'");
            case IList<object?> list when key is long or bool:
            {
                var i = (long)Py.ToDouble(key);
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : new Undefined($"list index {Py.Repr(key)}");
            }
            case string s when key is long or bool:
            {
                var cps = Py.CodePoints(s);
                var i = (long)Py.ToDouble(key);
                if (i < 0) i += cps.Count;
                return i >= 0 && i < cps.Count ? cps[(int)i] : new Undefined($"string index {Py.Repr(key)}");
            }
            case LoopContext loop when key is string k:
                return loop.Get(k);
            case string s when key is string k:
                return (object?)StringMethod(s, k) ?? new Undefined($"'str object' has no attribute '{k}'");
            default:
                return new Undefined($"'{Py.TypeName(target)} object' has no item {Py.Repr(key)}");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        static long? Index(object? v, string what) => v switch
        {
            null => null,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new JinjaError($"slice {what} must be an integer or none, got {Py.TypeName(v)}"),
        };
        var st = Index(step, "step") ?? 1;
        if (st == 0) throw new JinjaError("slice step cannot be zero");
        List<object?> items;
        var isString = false;
        switch (target)
        {
            case string s:
                items = Py.CodePoints(s).Cast<object?>().ToList();
                isString = true;
                break;
            case IList<object?> list:
                items = [.. list];
                break;
            case Undefined u:
                throw u.Fail();
            default:
                throw new JinjaError($"'{Py.TypeName(target)}' object is not subscriptable");
        }
        var n = items.Count;
        long Clamp(long? v, long dflt, bool forStart)
        {
            if (v is null) return dflt;
            var x = v.Value < 0 ? v.Value + n : v.Value;
            if (st > 0) return Math.Clamp(x, 0, n);
            return Math.Clamp(x, -1, n - 1);
        }
        var a = Clamp(Index(start, "start"), st > 0 ? 0 : n - 1, true);
        var b = Clamp(Index(stop, "stop"), st > 0 ? n : -1, false);
        var result = new List<object?>();
        if (st > 0) for (var i = a; i < b; i += st) result.Add(items[(int)i]);
        else for (var i = a; i > b; i += st) result.Add(items[(int)i]);
        return isString ? string.Concat(result.Cast<string>()) : result;
    }

    // ---- operators ----

    public static object? Binary(string op, object? a, object? b)
    {
        switch (op)
        {
            case "==": return Py.Equal(a, b);
            case "!=": return !Py.Equal(a, b);
            case "<": return Py.Compare(a, b) < 0;
            case "<=": return Py.Compare(a, b) <= 0;
            case ">": return Py.Compare(a, b) > 0;
            case ">=": return Py.Compare(a, b) >= 0;
            case "in": return Contains(b, a);
            case "not in": return !Contains(b, a);
            case "~": return Py.Str(a) + Py.Str(b);
        }
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        switch (op)
        {
            case "+" when a is string x && b is string y:
                return x + y;
            case "+" when a is IList<object?> x && b is IList<object?> y:
                return x.Concat(y).ToList();
            case "*" when a is string s && b is long or bool:
                return Repeat(s, (long)Py.ToDouble(b));
            case "*" when b is string s && a is long or bool:
                return Repeat(s, (long)Py.ToDouble(a));
            case "%" when a is string:
                throw new JinjaError("unsupported: '%' string formatting (use '~' or the format filter)");
        }
        if (!Py.IsNumber(a) || !Py.IsNumber(b))
            throw new JinjaError($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");
        var ints = a is long or bool && b is long or bool;
        var da = Py.ToDouble(a);
        var db = Py.ToDouble(b);
        switch (op)
        {
            case "+": return ints ? (object)((long)da + (long)db) : da + db;
            case "-": return ints ? (object)((long)da - (long)db) : da - db;
            case "*": return ints ? (object)((long)da * (long)db) : da * db;
            case "/":
                if (db == 0) throw new JinjaError("division by zero");
                return da / db;
            case "//":
                if (db == 0) throw new JinjaError("integer division or modulo by zero");
                return ints ? (object)(long)Math.Floor(da / db) : Math.Floor(da / db);
            case "%":
            {
                if (db == 0) throw new JinjaError("integer division or modulo by zero");
                var m = da - db * Math.Floor(da / db); // Python: the result takes the divisor's sign
                return ints ? (object)(long)m : m;
            }
            case "**":
                return ints && db >= 0 ? (object)(long)Math.Pow(da, db) : Math.Pow(da, db);
            default:
                throw new JinjaError($"unsupported operator '{op}'");
        }
    }

    private static string Repeat(string s, long n) => n <= 0 ? "" : new StringBuilder().Insert(0, s, (int)n).ToString();

    private static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string x => s.Contains(x, StringComparison.Ordinal),
        string when item is Undefined u => throw u.Fail(),
        string => throw new JinjaError($"'in <string>' requires string as left operand, not {Py.TypeName(item)}"),
        IDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        IList<object?> list => list.Any(x => Py.Equal(x, item)),
        Undefined => false,
        _ => throw new JinjaError($"argument of type '{Py.TypeName(container)}' is not iterable"),
    };

    // ---- globals ----

    public static Dictionary<string, object?> Globals(Func<DateTime> clock) => new()
    {
        ["range"] = new Callable("range", (args, _) =>
        {
            var xs = args.Select(a => a is long l ? l : throw new JinjaError($"range() takes integers, got {Py.TypeName(a)}")).ToList();
            var (start, stop, step) = xs.Count switch
            {
                1 => (0L, xs[0], 1L),
                2 => (xs[0], xs[1], 1L),
                3 => (xs[0], xs[1], xs[2]),
                _ => throw new JinjaError($"range() takes 1 to 3 arguments, got {xs.Count}"),
            };
            if (step == 0) throw new JinjaError("range() step must not be zero");
            var result = new List<object?>();
            for (var i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                result.Add(i);
                if (result.Count > 100_000) throw new JinjaError("range() is limited to 100000 items in a chat template");
            }
            return result;
        }),
        ["namespace"] = new Callable("namespace", (args, kwargs) =>
        {
            var ns = new Namespace();
            foreach (var a in args)
            {
                if (a is not IDictionary<string, object?> d) throw new JinjaError($"namespace() takes a dict or keyword arguments, got {Py.TypeName(a)}");
                foreach (var (k, v) in d) ns[k] = v;
            }
            foreach (var (k, v) in kwargs) ns[k] = v;
            return ns;
        }),
        ["dict"] = new Callable("dict", (args, kwargs) =>
        {
            var d = new Dictionary<string, object?>();
            foreach (var a in args)
                if (a is IDictionary<string, object?> src) foreach (var (k, v) in src) d[k] = v;
                else throw new JinjaError($"dict() takes a dict or keyword arguments, got {Py.TypeName(a)}");
            foreach (var (k, v) in kwargs) d[k] = v;
            return d;
        }),
        ["raise_exception"] = new Callable("raise_exception", (args, _) =>
            throw new JinjaError("raise_exception: " + (args.Count > 0 ? Py.Str(args[0]) : "(no message)"))),
        ["strftime_now"] = new Callable("strftime_now", (args, _) =>
            args.Count == 1 && args[0] is string fmt ? Strftime(clock(), fmt) : throw new JinjaError("strftime_now() takes one format string")),
    };

    /// <summary>Python's strftime for the directives templates use (C locale).</summary>
    public static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            var c = format[++i];
            var ci = CultureInfo.InvariantCulture;
            sb.Append(c switch
            {
                'd' => t.Day.ToString("00", ci),
                'm' => t.Month.ToString("00", ci),
                'Y' => t.Year.ToString("0000", ci),
                'y' => (t.Year % 100).ToString("00", ci),
                'b' => t.ToString("MMM", ci),
                'B' => t.ToString("MMMM", ci),
                'a' => t.ToString("ddd", ci),
                'A' => t.ToString("dddd", ci),
                'H' => t.Hour.ToString("00", ci),
                'I' => ((t.Hour + 11) % 12 + 1).ToString("00", ci),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'M' => t.Minute.ToString("00", ci),
                'S' => t.Second.ToString("00", ci),
                'j' => t.DayOfYear.ToString("000", ci),
                'e' => t.Day.ToString(ci).PadLeft(2),
                '%' => "%",
                _ => throw new JinjaError($"strftime_now: unsupported directive '%{c}'"),
            });
        }
        return sb.ToString();
    }

    // ---- methods ----

    private static Callable Method(string name, JinjaFunction body) => new(name, body);

    private static object? Arg(IReadOnlyList<object?> args, int i) => i < args.Count ? args[i] : null;

    private static string? OptString(IReadOnlyList<object?> args, int i, string method) => Arg(args, i) switch
    {
        null => null,
        string s => s,
        var other => throw new JinjaError($"str.{method}() argument must be a string or none, not {Py.TypeName(other)}"),
    };

    private static Callable? DictMethod(IDictionary<string, object?> dict, string name) => name switch
    {
        "items" => Method("dict.items", (_, _) => dict.Select(p => (object?)new Tuple([p.Key, p.Value])).ToList()),
        "keys" => Method("dict.keys", (_, _) => dict.Keys.Cast<object?>().ToList()),
        "values" => Method("dict.values", (_, _) => dict.Values.ToList()),
        "get" => Method("dict.get", (args, _) =>
            Arg(args, 0) is string k && dict.TryGetValue(k, out var v) ? v : Arg(args, 1)),
        _ => null,
    };

    private static Callable? StringMethod(string s, string name) => name switch
    {
        "startswith" => Method("str.startswith", (args, _) => Affixes(args, "startswith").Any(p => s.StartsWith(p, StringComparison.Ordinal))),
        "endswith" => Method("str.endswith", (args, _) => Affixes(args, "endswith").Any(p => s.EndsWith(p, StringComparison.Ordinal))),
        "strip" => Method("str.strip", (args, _) => Strip(s, OptString(args, 0, "strip"), true, true)),
        "lstrip" => Method("str.lstrip", (args, _) => Strip(s, OptString(args, 0, "lstrip"), true, false)),
        "rstrip" => Method("str.rstrip", (args, _) => Strip(s, OptString(args, 0, "rstrip"), false, true)),
        "split" => Method("str.split", (args, kw) => Split(s, OptString(args, 0, "split") ?? (kw.TryGetValue("sep", out var sep) ? sep as string : null),
            MaxSplit(args, kw), fromRight: false)),
        "rsplit" => Method("str.rsplit", (args, kw) => Split(s, OptString(args, 0, "rsplit") ?? (kw.TryGetValue("sep", out var sep) ? sep as string : null),
            MaxSplit(args, kw), fromRight: true)),
        "upper" => Method("str.upper", (_, _) => s.ToUpperInvariant()),
        "lower" => Method("str.lower", (_, _) => s.ToLowerInvariant()),
        "title" => Method("str.title", (_, _) => Title(s)),
        "capitalize" => Method("str.capitalize", (_, _) => Capitalize(s)),
        "replace" => Method("str.replace", (args, _) =>
        {
            var old = OptString(args, 0, "replace") ?? throw new JinjaError("str.replace() needs the old string");
            var @new = OptString(args, 1, "replace") ?? throw new JinjaError("str.replace() needs the new string");
            var count = Arg(args, 2) is long c ? c : -1;
            return ReplaceCount(s, old, @new, count);
        }),
        "find" => Method("str.find", (args, _) => (long)IndexInCodePoints(s, OptString(args, 0, "find") ?? "")),
        "count" => Method("str.count", (args, _) =>
        {
            var sub = OptString(args, 0, "count") ?? "";
            if (sub.Length == 0) return (long)Py.CodePoints(s).Count + 1;
            long n = 0;
            for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
            return n;
        }),
        "join" => Method("str.join", (args, _) => string.Join(s, Py.Iterate(Arg(args, 0)).Select(x => x as string
            ?? throw new JinjaError($"str.join() expects strings, found {Py.TypeName(x)}")))),
        "isdigit" => Method("str.isdigit", (_, _) => s.Length > 0 && s.All(char.IsDigit)),
        "isalpha" => Method("str.isalpha", (_, _) => s.Length > 0 && s.All(char.IsLetter)),
        "isspace" => Method("str.isspace", (_, _) => s.Length > 0 && s.All(Py.IsSpace)),
        "islower" => Method("str.islower", (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsUpper)),
        "isupper" => Method("str.isupper", (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsLower)),
        _ => null,
    };

    private static IEnumerable<string> Affixes(IReadOnlyList<object?> args, string method) => Arg(args, 0) switch
    {
        string p => [p],
        IList<object?> list => list.Select(x => x as string ?? throw new JinjaError($"str.{method}() takes a string or a tuple of strings")),
        var other => throw new JinjaError($"str.{method}() takes a string or a tuple of strings, not {Py.TypeName(other)}"),
    };

    private static long MaxSplit(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kw) =>
        Arg(args, 1) is long m ? m : kw.TryGetValue("maxsplit", out var v) && v is long k ? k : -1;

    /// <summary>Python's strip family: no argument strips whitespace, an argument strips any of its characters.</summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars is null ? Py.IsSpace : chars.Contains;
        var a = 0;
        var b = s.Length;
        if (left) while (a < b && strip(s[a])) a++;
        if (right) while (b > a && strip(s[b - 1])) b--;
        return s[a..b];
    }

    private static List<object?> Split(string s, string? sep, long maxSplit, bool fromRight)
    {
        if (sep is not null && sep.Length == 0) throw new JinjaError("str.split(): empty separator");
        List<string> parts;
        if (sep is null)
        {
            // No separator: runs of whitespace split, leading and trailing whitespace is ignored.
            parts = [];
            var words = new List<(int Start, int End)>();
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && Py.IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                var start = i;
                while (i < s.Length && !Py.IsSpace(s[i])) i++;
                words.Add((start, i));
            }
            if (maxSplit < 0 || words.Count <= maxSplit + 1) return words.Select(w => (object?)s[w.Start..w.End]).ToList();
            if (!fromRight)
            {
                var head = words.Take((int)maxSplit).Select(w => s[w.Start..w.End]).ToList();
                head.Add(Py.TrimEnd(s[words[(int)maxSplit].Start..]));
                return head.Cast<object?>().ToList();
            }
            var tail = words.Skip(words.Count - (int)maxSplit).Select(w => s[w.Start..w.End]).ToList();
            tail.Insert(0, Strip(s[..words[words.Count - (int)maxSplit - 1].End], null, true, false));
            return tail.Cast<object?>().ToList();
        }
        parts = [.. s.Split(sep)];
        if (maxSplit >= 0 && parts.Count > maxSplit + 1)
        {
            if (!fromRight)
            {
                var head = parts.Take((int)maxSplit).ToList();
                head.Add(string.Join(sep, parts.Skip((int)maxSplit)));
                parts = head;
            }
            else
            {
                var keep = parts.Count - (int)maxSplit;
                var tail = parts.Skip(keep).ToList();
                tail.Insert(0, string.Join(sep, parts.Take(keep)));
                parts = tail;
            }
        }
        return parts.Cast<object?>().ToList();
    }

    private static string ReplaceCount(string s, string old, string @new, long count)
    {
        if (count < 0) return old.Length == 0 ? string.Join(@new, ["", .. Py.CodePoints(s), ""]) : s.Replace(old, @new, StringComparison.Ordinal);
        var sb = new StringBuilder();
        var i = 0;
        for (long n = 0; n < count; n++)
        {
            var j = s.IndexOf(old, i, StringComparison.Ordinal);
            if (j < 0 || old.Length == 0) break;
            sb.Append(s, i, j - i).Append(@new);
            i = j + old.Length;
        }
        return sb.Append(s, i, s.Length - i).ToString();
    }

    private static int IndexInCodePoints(string s, string sub)
    {
        var j = s.IndexOf(sub, StringComparison.Ordinal);
        return j < 0 ? -1 : Py.CodePoints(s[..j]).Count;
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var prevLetter = false;
        foreach (var c in s)
        {
            sb.Append(prevLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    // ---- filters ----

    public static object? Filter(string name, object? value, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        object? Kw(string key, int position) => kwargs.TryGetValue(key, out var v) ? v : Arg(args, position);
        switch (name)
        {
            case "tojson":
            {
                var indent = Kw("indent", 0) switch
                {
                    null => (int?)null,
                    long l => (int)l,
                    var other => throw new JinjaError($"tojson: indent must be an integer, got {Py.TypeName(other)}"),
                };
                string? itemSep = null, keySep = null;
                if (Kw("separators", 2) is IList<object?> { Count: 2 } seps && seps[0] is string s0 && seps[1] is string s1)
                    (itemSep, keySep) = (s0, s1);
                if (Kw("ensure_ascii", 1) is true) throw new JinjaError("tojson: ensure_ascii=true is not supported");
                return Py.ToJson(value, indent, itemSep, keySep, Py.Truthy(Kw("sort_keys", 3)));
            }
            case "trim":
                return Strip(Py.Str(value), Kw("chars", 0) as string, true, true);
            case "length" or "count":
                return Py.Length(value);
            case "upper": return Py.Str(value).ToUpperInvariant();
            case "lower": return Py.Str(value).ToLowerInvariant();
            case "capitalize": return Capitalize(Py.Str(value));
            case "title": return Title(Py.Str(value));
            case "string": return Py.Str(value);
            case "safe": return value;
            case "e" or "escape":
                return Py.Str(value).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");
            case "default" or "d":
            {
                var useOnFalsy = Py.Truthy(Kw("boolean", 1));
                return value is Undefined || (useOnFalsy && !Py.Truthy(value)) ? Kw("default_value", 0) ?? "" : value;
            }
            case "join":
            {
                var sep = Kw("d", 0) as string ?? "";
                var attribute = Kw("attribute", 1) as string;
                return string.Join(sep, Py.Iterate(value).Select(x => Py.Str(attribute is null ? x : GetAttrPath(x, attribute))));
            }
            case "first":
            {
                var items = Py.Iterate(value);
                return items.Count > 0 ? items[0] : new Undefined("the first item of an empty sequence");
            }
            case "last":
            {
                var items = value is string s ? Py.CodePoints(s).Cast<object?>().ToList() : Py.Iterate(value);
                return items.Count > 0 ? items[^1] : new Undefined("the last item of an empty sequence");
            }
            case "list": return Py.Iterate(value);
            case "reverse":
                return value is string rs ? string.Concat(Py.CodePoints(rs).AsEnumerable().Reverse()) : Py.Iterate(value).AsEnumerable().Reverse().ToList();
            case "unique":
            {
                var result = new List<object?>();
                foreach (var x in Py.Iterate(value)) if (!result.Any(y => Py.Equal(x, y))) result.Add(x);
                return result;
            }
            case "sort":
            {
                var attribute = Kw("attribute", 2) as string;
                var items = Py.Iterate(value);
                var keyed = items.Select(x => (Key: attribute is null ? x : GetAttrPath(x, attribute), Item: x)).ToList();
                var sorted = keyed.Order(Comparer<(object? Key, object? Item)>.Create((p, q) => Py.Compare(p.Key, q.Key))).Select(p => p.Item).ToList();
                if (Py.Truthy(Kw("reverse", 0))) sorted.Reverse();
                return sorted;
            }
            case "items":
                return value switch
                {
                    Undefined => new List<object?>(),
                    IDictionary<string, object?> d => d.Select(p => (object?)new Tuple([p.Key, p.Value])).ToList(),
                    _ => throw new JinjaError($"items: expected a mapping, got {Py.TypeName(value)}"),
                };
            case "dictsort":
                return value is IDictionary<string, object?> ds
                    ? ds.OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase).Select(p => (object?)new Tuple([p.Key, p.Value])).ToList()
                    : throw new JinjaError($"dictsort: expected a mapping, got {Py.TypeName(value)}");
            case "int":
                return value switch
                {
                    long l => l,
                    double d => (long)Math.Truncate(d),
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => (long)Math.Truncate(d),
                    _ => Kw("default", 0) ?? 0L,
                };
            case "float":
                return value switch
                {
                    long or double or bool => Py.ToDouble(value),
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
                    _ => Kw("default", 0) ?? 0.0,
                };
            case "abs":
                return value switch
                {
                    long l => (object)Math.Abs(l),
                    double d => Math.Abs(d),
                    _ => throw new JinjaError($"abs: expected a number, got {Py.TypeName(value)}"),
                };
            case "round":
            {
                var precision = Kw("precision", 0) is long p ? (int)p : 0;
                var method = Kw("method", 1) as string ?? "common";
                var d = Py.ToDouble(value);
                var f = Math.Pow(10, precision);
                return method switch
                {
                    "common" => Math.Round(d * f, MidpointRounding.AwayFromZero) / f,
                    "floor" => Math.Floor(d * f) / f,
                    "ceil" => Math.Ceiling(d * f) / f,
                    _ => throw new JinjaError($"round: method must be common, floor or ceil, got '{method}'"),
                };
            }
            case "replace":
            {
                var old = Kw("old", 0) as string ?? throw new JinjaError("replace: needs the old string");
                var @new = Kw("new", 1) as string ?? throw new JinjaError("replace: needs the new string");
                return ReplaceCount(Py.Str(value), old, @new, Kw("count", 2) is long c ? c : -1);
            }
            case "indent":
            {
                var width = Kw("width", 0) switch { long l => new string(' ', (int)l), string s => s, _ => "    " };
                var first = Py.Truthy(Kw("first", 1));
                var blank = Py.Truthy(Kw("blank", 2));
                var lines = Py.Str(value).Split('\n');
                var sb = new StringBuilder();
                for (var i = 0; i < lines.Length; i++)
                {
                    if (i > 0) sb.Append('\n');
                    var indentThis = (i > 0 || first) && (blank || lines[i].Length > 0);
                    if (indentThis) sb.Append(width);
                    sb.Append(lines[i]);
                }
                return sb.ToString();
            }
            case "wordcount":
                return (long)Split(Py.Str(value), null, -1, false).Count;
            case "sum":
            {
                var attribute = Kw("attribute", 0) as string;
                object? total = Kw("start", 1) ?? 0L;
                foreach (var x in Py.Iterate(value)) total = Binary("+", total, attribute is null ? x : GetAttrPath(x, attribute));
                return total;
            }
            case "min" or "max":
            {
                var items = Py.Iterate(value);
                if (items.Count == 0) return new Undefined($"{name} of an empty sequence");
                var attribute = Kw("attribute", 1) as string;
                object? Key(object? x) => attribute is null ? x : GetAttrPath(x, attribute);
                var best = items[0];
                foreach (var x in items.Skip(1))
                {
                    var c = Py.Compare(Key(x), Key(best));
                    if (name == "min" ? c < 0 : c > 0) best = x;
                }
                return best;
            }
            case "map":
            {
                var items = Py.Iterate(value);
                if (kwargs.TryGetValue("attribute", out var attr))
                {
                    var path = attr as string ?? throw new JinjaError("map: attribute must be a string");
                    return items.Select(x =>
                    {
                        var r = GetAttrPath(x, path);
                        return r is Undefined && kwargs.TryGetValue("default", out var dflt) ? dflt : r;
                    }).ToList();
                }
                var filter = Arg(args, 0) as string ?? throw new JinjaError("map: needs a filter name or attribute=");
                return items.Select(x => Filter(filter, x, args.Skip(1).ToList(), NoKwargs)).ToList();
            }
            case "select" or "reject":
            {
                var test = Arg(args, 0) as string;
                return Py.Iterate(value).Where(x => (test is null ? Py.Truthy(x) : Test(test, x, args.Skip(1).ToList())) == (name == "select")).ToList();
            }
            case "selectattr" or "rejectattr":
            {
                var path = Arg(args, 0) as string ?? throw new JinjaError($"{name}: needs an attribute name");
                var test = Arg(args, 1) as string;
                return Py.Iterate(value).Where(x =>
                {
                    var a = GetAttrPath(x, path);
                    return (test is null ? Py.Truthy(a) : Test(test, a, args.Skip(2).ToList())) == (name == "selectattr");
                }).ToList();
            }
            case "batch":
            {
                var size = Arg(args, 0) is long n && n > 0 ? (int)n : throw new JinjaError("batch: needs a positive size");
                return Py.Iterate(value).Chunk(size).Select(c => (object?)c.ToList()).ToList();
            }
            case "center":
            {
                var s = Py.Str(value);
                var width = Arg(args, 0) is long w ? (int)w : 80;
                if (s.Length >= width) return s;
                var total = width - s.Length;
                var left = total / 2 + (total & width & 1);
                return new string(' ', left) + s + new string(' ', total - left);
            }
            default:
                throw new JinjaError($"unknown filter '{name}'");
        }
    }

    private static object? GetAttrPath(object? x, string path)
    {
        foreach (var part in path.Split('.'))
            x = long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? GetItem(x, i) : GetItem(x, part);
        return x;
    }

    // ---- tests ----

    public static bool Test(string name, object? value, IReadOnlyList<object?> args)
    {
        object? A0() => args.Count > 0 ? args[0] : throw new JinjaError($"test '{name}' needs an argument");
        switch (name)
        {
            case "defined": return value is not Undefined;
            case "undefined": return value is Undefined;
            case "none": return value is null;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "string": return value is string;
            case "number": return value is long or double;
            case "integer": return value is long;
            case "float": return value is double;
            case "mapping": return value is IDictionary<string, object?>;
            case "iterable": return value is string or IList<object?> or IDictionary<string, object?> or Undefined;
            case "sequence": return value is string or IList<object?> or IDictionary<string, object?>;
            case "callable": return value is Callable;
            case "lower": return value is string ls && ls == ls.ToLowerInvariant();
            case "upper": return value is string us && us == us.ToUpperInvariant();
            case "odd": return Py.ToDouble(value) % 2 != 0;
            case "even": return Py.ToDouble(value) % 2 == 0;
            case "divisibleby": return Py.ToDouble(value) % Py.ToDouble(A0()) == 0;
            case "equalto" or "eq" or "==" or "sameas" when name != "sameas": return Py.Equal(value, A0());
            case "sameas": return value is null || value is bool ? Py.Equal(value, A0()) && Py.TypeName(value) == Py.TypeName(A0()) : ReferenceEquals(value, A0());
            case "ne" or "!=": return !Py.Equal(value, A0());
            case "lt" or "lessthan" or "<": return Py.Compare(value, A0()) < 0;
            case "le" or "<=": return Py.Compare(value, A0()) <= 0;
            case "gt" or "greaterthan" or ">": return Py.Compare(value, A0()) > 0;
            case "ge" or ">=": return Py.Compare(value, A0()) >= 0;
            case "in": return Contains(A0(), value);
            default: throw new JinjaError($"unknown test '{name}'");
        }
    }
}
