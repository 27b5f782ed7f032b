using System.Globalization;

namespace Pipeline.Cli;

/// <summary>
/// One figure over several seeds: mean, min, max and sample standard deviation of the finite values, and how many of the
/// <see cref="Seeds"/> gave one. A seed whose value is missing (NaN: its run did not report it) is left out and counted, never read as 0.
/// </summary>
internal sealed record SeedSpread(double Mean, double Min, double Max, double Sd, int N, int Seeds)
{
    public static SeedSpread Of(IReadOnlyCollection<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var finite = values.Where(double.IsFinite).ToArray();
        if (finite.Length == 0) return new SeedSpread(double.NaN, double.NaN, double.NaN, double.NaN, 0, values.Count);
        var mean = finite.Average();
        var sd = finite.Length < 2 ? double.NaN : Math.Sqrt(finite.Sum(v => (v - mean) * (v - mean)) / (finite.Length - 1));
        return new SeedSpread(mean, finite.Min(), finite.Max(), sd, finite.Length, values.Count);
    }

    /// <summary>"19.3 % [18.0–20.5]" (mean [min–max]), with "(2 of 3 seeds)" when some seed gave no value; "n/a" when none did.</summary>
    public string Percent() => Format(v => (v * 100).ToString("0.0", CultureInfo.InvariantCulture), " %");

    /// <summary>As <see cref="Percent"/> for a plain number with <paramref name="format"/> digits.</summary>
    public string Number(string format = "0.0") => Format(v => v.ToString(format, CultureInfo.InvariantCulture), "");

    private string Format(Func<double, string> f, string unit)
    {
        if (N == 0) return "n/a";
        var text = N == 1 ? f(Mean) + unit : $"{f(Mean)}{unit} [{f(Min)}–{f(Max)}]";
        return N < Seeds ? $"{text} ({N} of {Seeds} seeds)" : text;
    }
}
