using System.Globalization;
using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Simulation.Costs;

/// <summary>
/// A declared distribution of a non-negative quantity (seconds for latencies, a count for tokens), sampled with the
/// simulation's seeded <see cref="Random"/>. Declared in HOCON as <c>{ distribution = constant | normal | lognormal | empirical, ... }</c>;
/// see the embedded costs.conf for the fields of each.
/// </summary>
public abstract record Distribution
{
    /// <summary>One draw, never negative.</summary>
    public abstract double Sample(Random rng);

    /// <summary>The mean, for reports and closed-form checks.</summary>
    public abstract double Mean { get; }

    /// <summary>Always the same value.</summary>
    public sealed record Constant(double Value) : Distribution
    {
        public override double Sample(Random rng) => Value;
        public override double Mean => Value;
    }

    /// <summary>Normal, cut at 0 (a negative draw counts as 0).</summary>
    public sealed record Normal(double Mu, double StdDev) : Distribution
    {
        public override double Sample(Random rng) => Math.Max(0, Mu + StdDev * Gaussian(rng));
        public override double Mean => Mu;
    }

    /// <summary>Log-normal given by its median and the standard deviation of its log (the usual shape of service latencies).</summary>
    public sealed record LogNormal(double Median, double Sigma) : Distribution
    {
        public override double Sample(Random rng) => Median * Math.Exp(Sigma * Gaussian(rng));
        public override double Mean => Median * Math.Exp(Sigma * Sigma / 2);
    }

    /// <summary>Measured values, drawn uniformly (the latencies a real source showed).</summary>
    public sealed record Empirical(string File, IReadOnlyList<double> Values) : Distribution
    {
        public override double Sample(Random rng) => Values[rng.Next(Values.Count)];
        public override double Mean => Values.Average();
    }

    // Box-Muller: two uniform draws per normal draw, so the number of draws never depends on the values.
    private static double Gaussian(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>
    /// Reads the distribution at <paramref name="key"/> of <paramref name="config"/> (<paramref name="path"/> is its full name for
    /// errors). <paramref name="durations"/>: the values are HOCON durations (read in seconds); else plain numbers. An empirical
    /// file holds one value per line (seconds, or a count), '#' starts a comment; a relative path is read from <paramref name="baseDir"/>.
    /// </summary>
    public static Distribution Read(Config config, string key, string path, bool durations, string baseDir)
    {
        if (!config.HasPath(key)) throw new ConfigException($"{path} is missing");
        var value = config.GetValue(key);
        if (!value.IsObject())
        {
            // A bare value is a constant: latency = 2s, completion-tokens = 32.
            return new Constant(Number(config, key, path, durations));
        }
        // Built from the value itself: Akka's GetConfig fails where an object overrides a default scalar (latency = 20ms).
        var d = new Config(new Akka.Configuration.Hocon.HoconRoot(value));
        var kind = d.HasPath("distribution") ? d.GetString("distribution") : "";
        return kind switch
        {
            "constant" => new Constant(Number(d, "value", path + ".value", durations)),
            "normal" => new Normal(Number(d, "mean", path + ".mean", durations), Number(d, "stddev", path + ".stddev", durations)),
            "lognormal" => new LogNormal(Positive(Number(d, "median", path + ".median", durations), path + ".median"),
                Number(d, "sigma", path + ".sigma", durations: false)),
            "empirical" => ReadFile(d, path, baseDir),
            _ => throw new ConfigException($"{path}.distribution = '{kind}': expected constant | normal | lognormal | empirical"),
        };
    }

    private static double Positive(double v, string path)
        => v > 0 ? v : throw new ConfigException($"{path} = {v.ToString(CultureInfo.InvariantCulture)}: must be positive");

    internal static double Number(Config config, string key, string path, bool durations)
    {
        if (!config.HasPath(key)) throw new ConfigException($"{path} is missing");
        var raw = config.GetString(key);
        double v;
        try
        {
            v = durations
                ? (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds : ParseDuration(config, key))
                : double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or ConfigurationException or OverflowException or ArgumentException)
        {
            throw new ConfigException($"{path} = '{raw}': expected {(durations ? "a duration (e.g. 250ms, 2s) or seconds" : "a number")}");
        }
        if (!double.IsFinite(v) || v < 0) throw new ConfigException($"{path} = '{raw}': must be a finite, non-negative {(durations ? "duration" : "number")}");
        return v;
    }

    private static double ParseDuration(Config config, string key)
    {
        var raw = config.GetString(key).Trim();
        // Akka's GetTimeSpan reads "-1s" as a negative span; say so instead of clamping.
        if (raw.StartsWith('-')) return -1;
        return config.GetTimeSpan(key, null, allowInfinite: false).TotalSeconds;
    }

    private static Empirical ReadFile(Config d, string path, string baseDir)
    {
        if (!d.HasPath("file")) throw new ConfigException($"{path}.file is missing (an empirical distribution reads its values from a file)");
        var file = d.GetString("file");
        var full = Path.IsPathRooted(file) ? file : Path.GetFullPath(Path.Combine(baseDir, file));
        if (!System.IO.File.Exists(full)) throw new ConfigException($"{path}.file = '{file}': no such file ({full})");
        var values = new List<double>();
        var n = 0;
        foreach (var line in System.IO.File.ReadLines(full))
        {
            n++;
            var text = line.Split('#')[0].Trim();
            if (text.Length == 0) continue;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
                throw new ConfigException($"{path}.file = '{file}', line {n}: '{text}' is not a non-negative number");
            values.Add(v);
        }
        if (values.Count == 0) throw new ConfigException($"{path}.file = '{file}' holds no values");
        return new Empirical(full, values);
    }
}
