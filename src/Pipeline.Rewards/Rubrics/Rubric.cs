using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Core.Configuration;

namespace Pipeline.Rewards.Rubrics;

/// <summary>
/// Criterion kinds and the weights each allows (Rubrics-as-Rewards): essential 5, important 3 to 4, optional 1 to 2,
/// pitfall -1 to -2. A pitfall's check is true when the pitfall happened, and then its (negative) weight counts.
/// </summary>
public enum CriterionKind { Essential, Important, Optional, Pitfall }

public static class CriterionKinds
{
    public static (double Min, double Max) AllowedWeights(CriterionKind kind) => kind switch
    {
        CriterionKind.Essential => (5, 5),
        CriterionKind.Important => (3, 4),
        CriterionKind.Optional => (1, 2),
        CriterionKind.Pitfall => (-2, -1),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static bool Allows(CriterionKind kind, double weight)
    {
        var (min, max) = AllowedWeights(kind);
        return double.IsFinite(weight) && weight >= min && weight <= max;
    }

    /// <summary>The spelling used in rubric files: essential, important, optional, pitfall.</summary>
    public static string Name(CriterionKind kind) => kind.ToString().ToLowerInvariant();

    public static string Describe(CriterionKind kind)
    {
        var (min, max) = AllowedWeights(kind);
        return min == max
            ? $"{Name(kind)} criteria weigh {Fmt(min)}"
            : $"{Name(kind)} criteria weigh {Fmt(kind == CriterionKind.Pitfall ? max : min)} to {Fmt(kind == CriterionKind.Pitfall ? min : max)}";
    }

    internal static string Fmt(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>
/// One rubric line. <see cref="Id"/> names it in the signal details (<c>id=1</c>), so it is a plain identifier.
/// <see cref="SkipWithoutJudge"/> (principles only): when no judge is configured the criterion is left out of the score
/// (details show <c>id=skipped</c>) instead of making the rubric unusable.
/// </summary>
public sealed record RubricCriterion(
    string Id,
    string Description,
    double Weight,
    CriterionKind Kind,
    RubricCheck Check,
    bool SkipWithoutJudge = false)
{
    public bool IsPrinciple => Check is PrincipleCheck;
}

/// <summary>
/// A loaded, validated rubric. Score of one completion = sum(weight * met) / sum(positive weights), clipped to [0, 1].
/// Load one from a file with <see cref="RubricFile.Load"/>, or build it in code (the constructor validates the same rules).
/// </summary>
public sealed partial class Rubric
{
    /// <exception cref="ConfigException">A weight does not fit its kind, an id is duplicated or malformed,
    /// <c>skip-without-judge</c> is set on a hard rule, or no criterion has a positive weight.</exception>
    public Rubric(string name, IReadOnlyList<RubricCriterion> criteria,
        CriterionBatching judgeBatching = CriterionBatching.OnePerCriterion, string origin = "rubric defined in code")
    {
        ArgumentNullException.ThrowIfNull(criteria);
        Origin = origin;
        if (string.IsNullOrWhiteSpace(name)) throw new ConfigException($"{origin}: the rubric needs a name");
        Name = name;
        JudgeBatching = judgeBatching;

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in criteria)
        {
            ArgumentNullException.ThrowIfNull(c);
            if (!IdPattern().IsMatch(c.Id ?? ""))
                throw new ConfigException($"{origin}: criterion id '{c.Id}' must be a letter followed by letters, digits, '_' or '-'");
            if (!seen.Add(c.Id!)) throw new ConfigException($"{origin}: criterion '{c.Id}': duplicate id");
            if (!CriterionKinds.Allows(c.Kind, c.Weight))
                throw new ConfigException(
                    $"{origin}: criterion '{c.Id}': weight {CriterionKinds.Fmt(c.Weight)} does not match kind {CriterionKinds.Name(c.Kind)} ({CriterionKinds.Describe(c.Kind)})");
            if (c.Check is null) throw new ConfigException($"{origin}: criterion '{c.Id}': no check");
            if (c.SkipWithoutJudge && !c.IsPrinciple)
                throw new ConfigException($"{origin}: criterion '{c.Id}': skip-without-judge only applies to principle checks, not '{c.Check.Type}'");
        }
        if (!criteria.Any(c => c.Weight > 0))
            throw new ConfigException($"{origin}: the rubric needs at least one criterion with a positive weight");
        Criteria = criteria.ToArray();
    }

    public string Name { get; }
    /// <summary>Where the rubric came from (a file path, an embedded resource), for messages.</summary>
    public string Origin { get; }
    public IReadOnlyList<RubricCriterion> Criteria { get; }
    /// <summary>How principles are sent to the judge (rubric key <c>judge-batching</c>); default one request per criterion.</summary>
    public CriterionBatching JudgeBatching { get; }
    public bool HasPrinciples => Criteria.Any(c => c.IsPrinciple);

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]*$")]
    private static partial Regex IdPattern();
}
