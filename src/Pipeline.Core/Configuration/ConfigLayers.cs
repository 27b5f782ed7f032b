using Akka.Configuration;
using Akka.Configuration.Hocon;
using Pipeline.Core.Tasks;

namespace Pipeline.Core.Configuration;

/// <summary>
/// Loads the layered HOCON configuration (built-in defaults &lt;- hocon/base.conf &lt;- hocon/&lt;mode&gt;.conf &lt;- --config
/// &lt;- --set) and remembers which layer set each key, so that every error names the key and the file.
/// Keys outside "pipeline" (for example "akka.*") pass through untouched to the ActorSystem.
/// </summary>
public sealed class ConfigLayers
{
    /// <summary>Sub-trees whose child names are free (one entry per reward source); their leaves must still be known fields.</summary>
    private static readonly string[] OpenMaps = ["pipeline.rewards.sources"];
    private static readonly HashSet<string> SourceFields = ["type", "weight", "required", "deadline", "normalizer", "transform", "transform-offset"];

    private readonly List<(string Origin, Config Config, HashSet<string> Leaves)> _layers = [];
    private readonly HashSet<string> _defaultLeaves;

    /// <param name="tasks">Registered tasks whose defaults (pipeline.task.&lt;name&gt;) join the known keys; null: <see cref="TaskRegistry.Shared"/>.</param>
    public ConfigLayers(TaskRegistry? tasks = null)
    {
        var defaults = ParseOrThrow(ReadDefaults(), "built-in defaults");
        _defaultLeaves = Leaves(defaults);
        // A task registered from the user's assembly brings its own keys; defaults.conf wins where both set one.
        foreach (var block in (tasks ?? TaskRegistry.Shared).Defaults)
        {
            defaults = defaults.WithFallback(block);
            _defaultLeaves.UnionWith(Leaves(block));
        }
        _layers.Add(("built-in defaults", defaults, _defaultLeaves));
    }

    public static string ReadDefaults()
    {
        using var stream = typeof(ConfigLayers).Assembly.GetManifestResourceStream("Pipeline.Core.Configuration.defaults.conf")
            ?? throw new InvalidOperationException("embedded defaults.conf is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The name of the settings snapshot every run folder holds (the file --resume reads).</summary>
    public const string RunSnapshotFile = "config.conf";

    /// <summary>Keys earlier versions declared and nothing reads any more: refused in new configuration, skipped in a run's snapshot.</summary>
    public static readonly IReadOnlySet<string> RetiredKeys = new HashSet<string>(StringComparer.Ordinal) { "pipeline.timeouts.ask" };

    public IReadOnlyList<string> Origins => _layers.Select(l => l.Origin).ToList();

    public ConfigLayers AddFile(string path, bool optional = false)
    {
        if (!File.Exists(path))
        {
            if (optional) return this;
            throw new ConfigException($"config file not found: {path}");
        }
        return AddText(File.ReadAllText(path), path);
    }

    public ConfigLayers AddText(string hocon, string origin)
    {
        var config = ParseOrThrow(hocon, origin);
        var leaves = Leaves(config);
        // A run folder's config snapshot written before a key was retired still resumes: the key is left unread.
        if (Path.GetFileName(origin) == RunSnapshotFile) leaves.RemoveWhere(RetiredKeys.Contains);
        foreach (var key in leaves) CheckKnown(key, origin);
        _layers.Add((origin, config, leaves));
        return this;
    }

    /// <summary>A --set key=value override; the value is HOCON (quotes optional for plain words).</summary>
    public ConfigLayers AddOverride(string assignment)
    {
        var eq = assignment.IndexOf('=');
        if (eq <= 0) throw new ConfigException($"--set expects key=value, got '{assignment}'");
        var key = assignment[..eq].Trim();
        var value = assignment[(eq + 1)..].Trim();
        if (!key.StartsWith("pipeline.", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
            key = "pipeline." + key;
        // Short form: --set rewards=execution,rubric,similarity chooses the sources taking part.
        if (key == "pipeline.rewards" && !value.StartsWith('{'))
        {
            key = "pipeline.rewards.use";
            if (!value.StartsWith('[')) value = "[" + value + "]";
        }
        return AddText($"{key} = {value}", $"--set {assignment}");
    }

    public Config Merged()
    {
        var merged = _layers[^1].Config;
        for (var i = _layers.Count - 2; i >= 0; i--) merged = merged.WithFallback(_layers[i].Config);
        return merged;
    }

    /// <summary>The layer that last set <paramref name="key"/>.</summary>
    public string OriginOf(string key)
    {
        for (var i = _layers.Count - 1; i >= 0; i--)
            if (_layers[i].Leaves.Contains(key)) return _layers[i].Origin;
        return "built-in defaults";
    }

    private void CheckKnown(string key, string origin)
    {
        if (key.StartsWith("akka.", StringComparison.Ordinal) || key.StartsWith("pipeline-torch-dispatcher.", StringComparison.Ordinal)
            || key.StartsWith("pipeline-generator-mailbox.", StringComparison.Ordinal)) return;
        if (!key.StartsWith("pipeline.", StringComparison.Ordinal))
            throw new ConfigException($"unknown key '{key}' in {origin}: settings live under 'pipeline' (or 'akka' for the actor system)");
        if (_defaultLeaves.Contains(key)) return;
        foreach (var map in OpenMaps)
        {
            if (!key.StartsWith(map + ".", StringComparison.Ordinal)) continue;
            var rest = key[(map.Length + 1)..].Split('.');
            if (rest.Length == 2 && SourceFields.Contains(rest[1])) return;
            throw new ConfigException(
                $"unknown key '{key}' in {origin}: entries of {map} take only {string.Join(", ", SourceFields)}");
        }
        var hint = Nearest(key);
        throw new ConfigException($"unknown key '{key}' in {origin}" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
    }

    private string? Nearest(string key)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var known in _defaultLeaves)
        {
            var d = Levenshtein(key, known);
            if (d < bestDistance) { bestDistance = d; best = known; }
        }
        return bestDistance <= Math.Max(3, key.Length / 4) ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    private static Config ParseOrThrow(string text, string origin)
    {
        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception e)
        {
            throw new ConfigException($"cannot parse {origin}: {e.Message}");
        }
    }

    private static HashSet<string> Leaves(Config config)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (config.Root is { } root && root.IsObject()) Walk(root.GetObject(), "", result);
        return result;
    }

    private static void Walk(HoconObject obj, string prefix, HashSet<string> result)
    {
        foreach (var (name, value) in obj.Items)
        {
            var path = prefix.Length == 0 ? name : prefix + "." + name;
            if (value.IsObject()) Walk(value.GetObject(), path, result);
            else result.Add(path);
        }
    }
}
