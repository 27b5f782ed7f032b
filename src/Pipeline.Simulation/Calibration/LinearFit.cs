namespace Pipeline.Simulation.Calibration;

/// <summary>
/// y = Intercept + Slope * x, fitted by least squares from sums (so a fit can pool points that were only recorded as sums).
/// <paramref name="Method"/> says which fit held: "least squares", "through the origin" (the intercept came out negative, or
/// x barely varied) or "constant" (the slope came out negative); <paramref name="R2"/> is its coefficient of determination
/// where the sums allow it (NaN otherwise).
/// </summary>
public sealed record LinearFit(double Intercept, double Slope, double Points, double R2, string Method)
{
    /// <summary>Fits from N, Σx, Σy, Σx², Σxy (and Σy² for R², NaN when unknown), keeping both coefficients non-negative.</summary>
    public static LinearFit FromSums(double n, double sx, double sy, double sxx, double sxy, double syy = double.NaN)
    {
        if (n <= 0 || sx <= 0) throw new ArgumentException("a fit needs at least one point with x > 0");
        var meanX = sx / n;
        var varX = sxx / n - meanX * meanX;
        // x that varies by under 1 % of its mean cannot separate a fixed cost from a per-unit one: fit the per-unit cost only.
        if (varX > 0 && Math.Sqrt(varX) > 0.01 * meanX)
        {
            var slope = (sxy - sx * sy / n) / (sxx - sx * sx / n);
            var intercept = (sy - slope * sx) / n;
            if (slope >= 0 && intercept >= 0) return new LinearFit(intercept, slope, n, R2Of(n, sx, sy, sxx, sxy, syy, intercept, slope), "least squares");
            if (slope < 0) return new LinearFit(sy / n, 0, n, R2Of(n, sx, sy, sxx, sxy, syy, sy / n, 0), "constant");
        }
        var b = sxy / sxx;
        return new LinearFit(0, b, n, R2Of(n, sx, sy, sxx, sxy, syy, 0, b), "through the origin");
    }

    /// <summary>Fits the points (x[i], y[i]).</summary>
    public static LinearFit Of(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException("x and y differ in length");
        double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
        for (var i = 0; i < x.Count; i++)
        {
            sx += x[i]; sy += y[i]; sxx += x[i] * x[i]; sxy += x[i] * y[i]; syy += y[i] * y[i];
        }
        return FromSums(x.Count, sx, sy, sxx, sxy, syy);
    }

    private static double R2Of(double n, double sx, double sy, double sxx, double sxy, double syy, double a, double b)
    {
        if (double.IsNaN(syy)) return double.NaN;
        var total = syy - sy * sy / n;
        // Residual sum of squares expanded in the sums: Σ(y - a - bx)².
        var residual = syy - 2 * a * sy - 2 * b * sxy + n * a * a + 2 * a * b * sx + b * b * sxx;
        return total > 0 ? 1 - residual / total : double.NaN;
    }
}
