using System.Globalization;

namespace Pipeline.Cli;

/// <summary>
/// The fixed held-out accuracy two runs race to (<c>experiment async</c>): the lower of their final accuracies, so both reach
/// it by their last evaluation unless accuracy fell back after an earlier peak. A target not above the warm-start's accuracy
/// measures nothing that GRPO did, so it has no time-to-target ratio.
/// </summary>
internal sealed record AccuracyTarget(double Value, double WarmStart)
{
    public const string Rule = "the lower of the two runs' final held-out accuracies; no ratio when that is not above the warm-start's";

    public bool AboveWarmStart => Value > WarmStart;

    public static AccuracyTarget LowerFinal(double warmStart, double finalA, double finalB)
    {
        if (!double.IsFinite(finalA) || !double.IsFinite(finalB))
            throw new ArgumentException($"final accuracies must be finite numbers, got {finalA} and {finalB}");
        return new AccuracyTarget(Math.Min(finalA, finalB), warmStart);
    }

    /// <summary>Seconds to the first evaluation at or above the target, or null when no evaluation reached it.</summary>
    public double? SecondsToReach(IEnumerable<EvalPoint> evals)
        => evals.OrderBy(e => e.Seconds).FirstOrDefault(e => e.Accuracy >= Value) is { } hit ? hit.Seconds : null;

    /// <summary>sync / async seconds to the target, or the reason there is no ratio ("not reached by ...", "target not above the warm-start").</summary>
    public (double? Ratio, string Text) Speedup(IEnumerable<EvalPoint> sync, IEnumerable<EvalPoint> async)
    {
        if (!AboveWarmStart)
            return (null, $"no ratio: target {Value:P1} not above the warm-start's {WarmStart:P1}");
        var s = SecondsToReach(sync);
        var a = SecondsToReach(async);
        if (s is null || a is null)
            return (null, $"not reached by {(s is null && a is null ? "either run" : s is null ? "sync" : "async")}");
        if (a.Value <= 0) return (null, "async reached it at 0 s: no ratio");
        var ratio = s.Value / a.Value;
        return (ratio, ratio.ToString("0.00", CultureInfo.InvariantCulture) + "x");
    }
}
