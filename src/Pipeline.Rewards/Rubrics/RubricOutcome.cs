using System.Globalization;
using Pipeline.Core.Rewards;

namespace Pipeline.Rewards.Rubrics;

/// <summary>
/// One criterion's result for one completion. <see cref="Met"/>: true/false, or null when it was skipped
/// (<see cref="Skipped"/>: a <c>skip-without-judge</c> principle and no judge) or could not be decided (see <see cref="Note"/>).
/// For a pitfall, Met = true means the pitfall happened.
/// </summary>
public sealed record CriterionOutcome(string Id, CriterionKind Kind, double Weight, bool? Met, bool Skipped = false, string? Note = null)
{
    /// <summary>The value shown in signal details: 1, 0, skipped, or ? (undecided).</summary>
    public string Display => Skipped ? "skipped" : Met switch { true => "1", false => "0", null => "?" };
}

/// <summary>
/// The rubric's full verdict on one completion, for structured logging (the source's optional observer gets one per rollout).
/// <see cref="Score"/> is NaN when <see cref="Valid"/> is false; <see cref="Reason"/> then says why.
/// </summary>
public sealed record RubricOutcome(
    string Source,
    string Rubric,
    string PromptId,
    string? RolloutId,
    bool Valid,
    double Score,
    string? Reason,
    IReadOnlyList<CriterionOutcome> Criteria,
    TimeSpan Latency)
{
    /// <summary>Every criterion as <c>id=value</c>, space-separated, in rubric order, e.g. <c>parses=1 read_only=1 select_star=0</c>.</summary>
    public string Details => string.Join(' ', Criteria.Select(c => $"{c.Id}={c.Display}"));

    public RewardSignal ToSignal() => Valid
        ? RewardSignal.Ok(Source, Score, Latency, Details)
        : RewardSignal.Invalid(Source, $"{Reason} [{Details}]", Latency);

    public override string ToString() => Valid
        ? $"{Source} {Score.ToString("0.###", CultureInfo.InvariantCulture)} {Details}"
        : $"{Source} invalid: {Reason} [{Details}]";
}
