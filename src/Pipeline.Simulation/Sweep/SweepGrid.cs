using Pipeline.Core.Configuration;

namespace Pipeline.Simulation.Sweep;

/// <summary>
/// One swept key and its values, from <c>--sweep key=v1,v2,...</c>. A key starting with <c>costs.</c> is a cost-model key
/// (as in costs.conf, e.g. <c>costs.sources.critic.latency</c>); any other is a pipeline key as <c>--set</c> takes it
/// (<c>generation.generators</c>, without the <c>pipeline.</c> prefix).
/// </summary>
public sealed record SweepAxis(string Key, IReadOnlyList<string> Values)
{
    public bool IsCost => Key.StartsWith("costs.", StringComparison.Ordinal);
}

/// <summary>One grid point: a value per axis, in the axes' order.</summary>
public sealed record SweepPoint(int Index, IReadOnlyList<(string Key, string Value)> Values)
{
    /// <summary>The pipeline settings of this point, as --set overrides.</summary>
    public IEnumerable<string> Sets => Values.Where(v => !v.Key.StartsWith("costs.", StringComparison.Ordinal)).Select(v => $"{v.Key}={v.Value}");

    /// <summary>The cost keys of this point, as HOCON lines layered last over the cost model.</summary>
    public string CostOverrides => string.Concat(Values.Where(v => v.Key.StartsWith("costs.", StringComparison.Ordinal)).Select(v => $"{v.Key} = {v.Value}\n"));

    /// <summary>A folder name: the point's number, then key=value pairs with the last part of each key.</summary>
    public string FolderName => $"{Index:000}__" + string.Join("__", Values.Select(v => $"{v.Key.Split('.')[^1]}={Safe(v.Value)}"));

    private static string Safe(string v) => new(v.Select(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray());
}

/// <summary>
/// The grid of <c>--sweep</c> options: every combination of the axes' values, the first axis varying slowest.
/// A malformed option (no '=', an empty key or value, a key given twice) or a grid over <see cref="MaxPoints"/> points is a
/// <see cref="ConfigException"/> naming it, before anything runs.
/// </summary>
public static class SweepGrid
{
    /// <summary>A bound on one sweep's simulations (each runs to the full --duration).</summary>
    public const int MaxPoints = 512;

    public static IReadOnlyList<SweepAxis> Parse(IEnumerable<string> options)
    {
        var axes = new List<SweepAxis>();
        foreach (var option in options)
        {
            var eq = option.IndexOf('=');
            if (eq <= 0) throw new ConfigException($"--sweep '{option}': expected key=v1,v2,... (e.g. generation.generators=1,2,4)");
            var key = option[..eq].Trim();
            if (key.StartsWith("pipeline.", StringComparison.Ordinal)) key = key["pipeline.".Length..];
            if (key.Length == 0 || key.Any(char.IsWhiteSpace)) throw new ConfigException($"--sweep '{option}': '{key}' is not a key");
            var values = option[(eq + 1)..].Split(',').Select(v => v.Trim()).ToList();
            if (values.Any(v => v.Length == 0)) throw new ConfigException($"--sweep '{option}': an empty value in the list of {key}");
            if (values.Distinct(StringComparer.Ordinal).Count() != values.Count) throw new ConfigException($"--sweep '{option}': a value of {key} is listed twice");
            if (axes.Any(a => a.Key == key)) throw new ConfigException($"--sweep: {key} is swept twice (list all its values in one --sweep)");
            axes.Add(new SweepAxis(key, values));
        }
        if (axes.Count == 0) throw new ConfigException("--sweep: no axis given");
        var count = axes.Aggregate(1L, (n, a) => n * a.Values.Count);
        if (count > MaxPoints) throw new ConfigException($"--sweep: {count} points; at most {MaxPoints} run in one sweep");
        return axes;
    }

    public static IReadOnlyList<SweepPoint> Points(IReadOnlyList<SweepAxis> axes)
    {
        var points = new List<SweepPoint>();
        var current = new (string, string)[axes.Count];
        void Walk(int axis)
        {
            if (axis == axes.Count)
            {
                points.Add(new SweepPoint(points.Count + 1, [.. current]));
                return;
            }
            foreach (var v in axes[axis].Values)
            {
                current[axis] = (axes[axis].Key, v);
                Walk(axis + 1);
            }
        }
        Walk(0);
        return points;
    }
}
