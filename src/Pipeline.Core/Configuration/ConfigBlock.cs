using System.Globalization;
using Akka.Configuration;

namespace Pipeline.Core.Configuration;

/// <summary>
/// Typed reads from one settings block (e.g. pipeline.rewards.critic) where an absent key keeps the caller's default and a
/// bad value is a <see cref="ConfigException"/> naming the full key and, when <paramref name="originOf"/> is given (the
/// settings loader's <see cref="ConfigLayers.OriginOf"/>), the file or --set that set it, as <see cref="SettingsReader"/>
/// does. The block's keys are already checked against the defaults by <see cref="ConfigLayers"/>; this only parses values.
/// </summary>
public sealed class ConfigBlock(Config? config, string path, Func<string, string>? originOf = null)
{
    private readonly Config _config = config ?? Config.Empty;

    public bool IsEmpty => _config.IsEmpty;

    /// <summary>The block's path, e.g. pipeline.rewards.critic.</summary>
    public string Path => path;

    public string Str(string key, string fallback) => _config.HasPath(key) ? _config.GetString(key) ?? fallback : fallback;

    public int Int(string key, int fallback) => Parse(key, fallback, s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture));

    public long Long(string key, long fallback) => Parse(key, fallback, s => long.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture));

    public double Double(string key, double fallback) => Parse(key, fallback, s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture));

    public bool Bool(string key, bool fallback) => Parse(key, fallback, s => s.ToLowerInvariant() switch
    {
        "on" or "true" or "yes" => true,
        "off" or "false" or "no" => false,
        _ => throw new FormatException("expected on | off"),
    });

    public TimeSpan Duration(string key, TimeSpan fallback) => Parse(key, fallback, _ =>
    {
        try
        {
            return _config.GetTimeSpan(key, null, allowInfinite: false);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or ConfigurationException)
        {
            // Akka's own message ("The input string ... was not in a correct format") says nothing about durations.
            throw new FormatException("expected a duration such as 500ms, 5s or 2m");
        }
    });

    /// <summary>A value parsed by <paramref name="parse"/>; its FormatException/ArgumentException message is kept in the error.</summary>
    public T Parse<T>(string key, T fallback, Func<string, T> parse)
    {
        if (!_config.HasPath(key)) return fallback;
        var raw = _config.GetString(key) ?? "";
        try
        {
            return parse(raw.Trim());
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or ConfigurationException)
        {
            throw new ConfigException($"{path}.{key} = '{raw}'{In(key)}: {e.Message}");
        }
    }

    /// <summary>
    /// A value that parsed but breaks a rule (a range, or a relation to another key): names the full key, the value as
    /// written (else <paramref name="value"/>, the default in force) and where it was set.
    /// </summary>
    public ConfigException Error(string key, object? value, string rule)
    {
        var shown = _config.HasPath(key) && !_config.GetValue(key).IsObject() && !_config.GetValue(key).IsArray()
            ? _config.GetString(key) ?? ""
            : Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
        return new ConfigException($"{path}.{key} = '{shown}'{In(key)}: {rule}");
    }

    private string In(string key) => originOf is null ? "" : $" in {originOf($"{path}.{key}")}";
}
