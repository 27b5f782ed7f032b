namespace Pipeline.Oni.RewardModels;

/// <summary>
/// Running mean and variance (Welford). <see cref="Std"/> is the population standard deviation, 1 while fewer than two
/// values were seen, and at least <see cref="Epsilon"/>. Non-finite values are ignored.
/// </summary>
public sealed class RunningMeanStd
{
    public const double Epsilon = 1e-8;

    public long Count { get; private set; }
    public double Mean { get; private set; }
    /// <summary>Sum of squared deviations from the mean (Welford's M2).</summary>
    public double M2 { get; private set; }

    public double Variance => Count < 2 ? 1.0 : M2 / Count;
    public double Std => Count < 2 ? 1.0 : Math.Max(Math.Sqrt(Variance), Epsilon);

    public void Update(double x)
    {
        if (!double.IsFinite(x)) return;
        Count++;
        var delta = x - Mean;
        Mean += delta / Count;
        M2 += delta * (x - Mean);
    }

    public double Normalize(double x) => (x - Mean) / Std;

    public RunningMeanStdState State => new(Count, Mean, M2);

    public void Restore(RunningMeanStdState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Count < 0 || !double.IsFinite(state.Mean) || !double.IsFinite(state.M2) || state.M2 < 0)
            throw new InvalidDataException($"invalid normaliser state {state}");
        Count = state.Count;
        Mean = state.Mean;
        M2 = state.M2;
    }
}

/// <summary>Persisted <see cref="RunningMeanStd"/>.</summary>
public sealed record RunningMeanStdState(long Count, double Mean, double M2);

/// <summary>The last <see cref="Capacity"/> finite values (a ring) and their quantiles (linear interpolation, as numpy's default).</summary>
public sealed class RecentWindow
{
    private readonly double[] _ring;
    private int _next;

    public RecentWindow(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new double[capacity];
    }

    public int Capacity => _ring.Length;
    public int Count { get; private set; }

    public void Add(double x)
    {
        if (!double.IsFinite(x)) return;
        _ring[_next] = x;
        _next = (_next + 1) % _ring.Length;
        if (Count < _ring.Length) Count++;
    }

    /// <summary>The q-quantile (q in [0, 1]) of the window; NaN when empty.</summary>
    public double Quantile(double q)
    {
        if (Count == 0) return double.NaN;
        var sorted = Values();
        Array.Sort(sorted);
        var pos = Math.Clamp(q, 0, 1) * (sorted.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /// <summary>The values, oldest first.</summary>
    public double[] Values()
    {
        var result = new double[Count];
        var start = Count < _ring.Length ? 0 : _next;
        for (var i = 0; i < Count; i++) result[i] = _ring[(start + i) % _ring.Length];
        return result;
    }
}
