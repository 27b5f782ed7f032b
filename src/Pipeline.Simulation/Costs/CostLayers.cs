using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Simulation.Costs;

/// <summary>
/// A cost model from layers over the built-in costs.conf, later layers winning: the costs fitted by --calibrate-from,
/// the user's --costs file, then a sweep point's cost keys. Every key of every layer is checked against costs.conf.
/// </summary>
public static class CostLayers
{
    /// <summary>The layers as one HOCON text (what the run folder's costs.conf holds after the defaults).</summary>
    public static string Text(string? calibrated, string? userFile, string? overrides)
    {
        var parts = new List<string>();
        if (!string.IsNullOrWhiteSpace(calibrated)) parts.Add("# --calibrate-from\n" + calibrated);
        if (userFile is not null)
        {
            if (!File.Exists(userFile)) throw new ConfigException($"--costs {userFile}: no such file");
            parts.Add($"# --costs {userFile}\n" + File.ReadAllText(userFile));
        }
        if (!string.IsNullOrWhiteSpace(overrides)) parts.Add("# --sweep\n" + overrides);
        return string.Join("\n", parts);
    }

    /// <summary>Loads the layers; an empty stack is the built-in costs. Relative empirical files are read from the --costs file's folder.</summary>
    public static CostModel Load(string? calibrated, string? userFile, string? overrides)
    {
        var text = Text(calibrated, userFile, overrides);
        if (text.Length == 0) return CostModel.Load(null);
        Config layers;
        try { layers = ConfigurationFactory.ParseString(text); }
        catch (Exception e) when (e is ConfigurationException or FormatException)
        {
            throw new ConfigException($"the cost layers ({(userFile is null ? "" : "--costs " + userFile + ", ")}--calibrate-from, --sweep) are not valid HOCON: {e.Message}");
        }
        var baseDir = userFile is null ? Environment.CurrentDirectory : Path.GetDirectoryName(Path.GetFullPath(userFile))!;
        return CostModel.From(layers.WithFallback(ConfigurationFactory.ParseString(CostModel.DefaultText())), baseDir, CostModel.Leaves(layers));
    }
}
