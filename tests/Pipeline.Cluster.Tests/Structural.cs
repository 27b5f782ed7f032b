using System.Collections;
using System.Collections.Immutable;
using System.Reflection;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Field-by-field comparison for messages whose records hold arrays and dictionaries (where record equality compares
/// references), and a coverage check that the samples give every field a non-default value somewhere, so a field the
/// codec forgets cannot hide behind its default.
/// </summary>
internal static class Structural
{
    /// <summary>Null when equal, else the path of the first difference.</summary>
    public static string? Difference(object? expected, object? actual, string path = "$")
    {
        if (expected is null || actual is null)
            return expected is null && actual is null ? null : $"{path}: expected {Show(expected)}, got {Show(actual)}";
        var type = expected.GetType();
        if (type != actual.GetType()
            && !(expected is IDictionary && actual is IDictionary)
            && !(IsSequence(expected) && IsSequence(actual)))
            return $"{path}: expected a {type.Name}, got a {actual.GetType().Name}";

        if (IsLeaf(type))
            return expected.Equals(actual) ? null : $"{path}: expected {Show(expected)}, got {Show(actual)}";

        if (IsImmutableArray(type))
        {
            var (e, a) = ((bool)type.GetProperty("IsDefault")!.GetValue(expected)!, (bool)type.GetProperty("IsDefault")!.GetValue(actual)!);
            if (e || a) return e == a ? null : $"{path}: default-ness differs (expected {e}, got {a})";
        }

        if (expected is IDictionary ed)
        {
            var ad = (IDictionary)actual;
            if (ed.Count != ad.Count) return $"{path}: expected {ed.Count} entries, got {ad.Count}";
            foreach (DictionaryEntry entry in ed)
            {
                if (!ad.Contains(entry.Key)) return $"{path}: key '{entry.Key}' missing";
                if (Difference(entry.Value, ad[entry.Key], $"{path}[{entry.Key}]") is { } d) return d;
            }
            return null;
        }

        if (IsSequence(expected))
        {
            var e = ((IEnumerable)expected).Cast<object?>().ToList();
            var a = ((IEnumerable)actual).Cast<object?>().ToList();
            if (e.Count != a.Count) return $"{path}: expected {e.Count} items, got {a.Count}";
            for (var i = 0; i < e.Count; i++)
                if (Difference(e[i], a[i], $"{path}[{i}]") is { } d) return d;
            return null;
        }

        foreach (var p in Properties(type))
            if (Difference(p.GetValue(expected), p.GetValue(actual), $"{path}.{p.Name}") is { } d) return d;
        return null;
    }

    /// <summary>
    /// Every (type, property) reached from <paramref name="roots"/> in Pipeline.* types that never held a non-default value
    /// (non-zero, true, non-null, non-empty).
    /// </summary>
    public static IReadOnlyList<string> FieldsNeverExercised(IEnumerable<object> roots)
    {
        var seen = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var root in roots) Walk(root, seen);
        return seen.Where(kv => !kv.Value).Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal).ToList();
    }

    private static void Walk(object? value, Dictionary<string, bool> seen)
    {
        if (value is null) return;
        var type = value.GetType();
        if (IsLeaf(type)) return;
        if (value is IDictionary d)
        {
            foreach (DictionaryEntry e in d) Walk(e.Value, seen);
            return;
        }
        if (IsSequence(value))
        {
            if (IsImmutableArray(type) && (bool)type.GetProperty("IsDefault")!.GetValue(value)!) return;
            foreach (var item in (IEnumerable)value) Walk(item, seen);
            return;
        }
        if (type.Assembly.GetName().Name?.StartsWith("Pipeline.", StringComparison.Ordinal) != true) return;
        foreach (var p in Properties(type))
        {
            var v = p.GetValue(value);
            var key = $"{type.Name}.{p.Name}";
            seen[key] = (seen.TryGetValue(key, out var before) && before) || !IsDefault(v);
            Walk(v, seen);
        }
    }

    private static bool IsDefault(object? v) => v switch
    {
        null => true,
        string s => s.Length == 0,
        bool b => !b,
        IDictionary d => d.Count == 0,
        _ when v.GetType() is var t && IsImmutableArray(t) =>
            (bool)t.GetProperty("IsDefault")!.GetValue(v)! || (int)t.GetProperty("Length")!.GetValue(v)! == 0,
        ICollection c => c.Count == 0,
        IEnumerable e => !e.Cast<object?>().Any(),
        _ when v.GetType().IsValueType => v.Equals(Activator.CreateInstance(v.GetType())),
        _ => false,
    };

    private static IEnumerable<PropertyInfo> Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.GetIndexParameters().Length == 0);

    private static bool IsLeaf(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan)
        || t == typeof(DateTime) || t == typeof(DateTimeOffset) || t == typeof(Guid);

    private static bool IsImmutableArray(Type t) => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ImmutableArray<>);

    private static bool IsSequence(object o) => o is IEnumerable && o is not string && o is not IDictionary;

    private static string Show(object? o) => o switch
    {
        null => "null",
        string s => $"\"{s}\"",
        _ => o.ToString() ?? o.GetType().Name,
    };
}
