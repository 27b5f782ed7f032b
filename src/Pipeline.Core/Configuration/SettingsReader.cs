using System.Globalization;
using Akka.Configuration;

namespace Pipeline.Core.Configuration;

/// <summary>Typed reads from the merged configuration; a wrong type or bad duration names the key and the file that set it.</summary>
public sealed class SettingsReader(Config config, ConfigLayers layers)
{
    public Config Config { get; } = config;

    public string String(string key) => Raw(key);

    public int Int(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        var raw = Raw(key);
        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw Wrong(key, raw, "an integer");
        return InRange(key, v, min, max);
    }

    public long Long(string key, long min = long.MinValue)
    {
        var raw = Raw(key);
        if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw Wrong(key, raw, "an integer");
        if (v < min) throw new ConfigException($"{key} = {v} in {layers.OriginOf(key)}: must be >= {min}");
        return v;
    }

    public double Double(string key, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var raw = Raw(key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw Wrong(key, raw, "a number");
        if (v < min || v > max)
            throw new ConfigException($"{key} = {raw} in {layers.OriginOf(key)}: must be within [{min}, {max}]");
        return v;
    }

    public bool Bool(string key)
    {
        var raw = Raw(key);
        return raw.ToLowerInvariant() switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw Wrong(key, raw, "on/off (or true/false)"),
        };
    }

    public TimeSpan Duration(string key)
    {
        var raw = Raw(key);
        TimeSpan value;
        try
        {
            value = Config.GetTimeSpan(key, null, allowInfinite: false);
        }
        catch (Exception)
        {
            throw Wrong(key, raw, "a duration such as 500ms, 5s or 2m");
        }
        if (value <= TimeSpan.Zero) throw new ConfigException($"{key} = {raw} in {layers.OriginOf(key)}: must be a positive duration");
        return value;
    }

    public string OneOf(string key, params string[] allowed)
    {
        var raw = Raw(key);
        if (!allowed.Contains(raw, StringComparer.Ordinal))
            throw new ConfigException($"{key} = '{raw}' in {layers.OriginOf(key)}: expected one of {string.Join(" | ", allowed)}");
        return raw;
    }

    /// <summary>A list of words: a HOCON array, or one string with comma-separated items.</summary>
    public IReadOnlyList<string> StringList(string key)
    {
        if (!Config.HasPath(key)) throw new ConfigException($"missing key '{key}'");
        var value = Config.GetValue(key);
        IEnumerable<string> items = value.IsArray()
            ? value.GetArray().Select(v => v.IsObject() || v.IsArray() ? throw Wrong(key, "[...]", "a list of names") : v.GetString() ?? "")
            : (value.IsObject() ? throw Wrong(key, "{...}", "a list of names") : (value.GetString() ?? "").Split(','));
        return items.Select(i => i.Trim()).Where(i => i.Length > 0).ToList();
    }

    public IReadOnlyList<string> ChildNames(string key)
    {
        if (!Config.HasPath(key)) return [];
        var value = Config.GetValue(key);
        if (!value.IsObject()) throw Wrong(key, value.ToString(), "an object");
        return value.GetObject().Items.Keys.ToList();
    }

    private string Raw(string key)
    {
        if (!Config.HasPath(key)) throw new ConfigException($"missing key '{key}'");
        var value = Config.GetValue(key);
        if (value.IsObject() || value.IsArray()) throw Wrong(key, "{...}", "a single value");
        return value.GetString() ?? "";
    }

    private int InRange(string key, int v, int min, int max)
    {
        if (v < min || v > max)
            throw new ConfigException($"{key} = {v} in {layers.OriginOf(key)}: must be within [{min}, {max}]");
        return v;
    }

    private ConfigException Wrong(string key, string raw, string expected)
        => new($"{key} = '{raw}' in {layers.OriginOf(key)}: expected {expected}");
}
