using System.Globalization;
using Akka.Configuration;

namespace Pipeline.Core.Configuration;

/// <summary>
/// Typed reads from one settings block (e.g. pipeline.rewards.critic) where an absent key keeps the caller's default and a
/// bad value is a <see cref="ConfigException"/> naming the full key. The block's keys are already checked against the
/// defaults by <see cref="ConfigLayers"/>; this only parses values.
/// </summary>
public sealed class ConfigBlock(Config? config, string path)
{
    private readonly Config _config = config ?? Config.Empty;

    public bool IsEmpty => _config.IsEmpty;

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

    public TimeSpan Duration(string key, TimeSpan fallback) => Parse(key, fallback, _ => _config.GetTimeSpan(key, null, allowInfinite: false));

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
            throw new ConfigException($"{path}.{key} = '{raw}': {e.Message}");
        }
    }
}
