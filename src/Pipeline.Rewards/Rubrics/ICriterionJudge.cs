namespace Pipeline.Rewards.Rubrics;

/// <summary>A rubric criterion that only a judge can check (a "principle"), by id and wording.</summary>
public sealed record JudgeCriterion(string Id, string Text);

/// <summary>How a judge asks about several criteria: one yes/no request per criterion, or all of them in one request.</summary>
public enum CriterionBatching { OnePerCriterion, AllInOne }

/// <summary>
/// Answers yes/no per rubric criterion for one (prompt, completion). Implemented by the LLM critic client;
/// the rubric source uses it for principles and checks hard rules locally.
/// </summary>
public interface ICriterionJudge
{
    /// <summary>
    /// One entry per criterion, in order: true (met), false (not met), or null when the judge gave no usable answer
    /// for that criterion (parse failure, refusal, timeout); the rubric source then marks its signal invalid.
    /// </summary>
    Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string completion, IReadOnlyList<JudgeCriterion> criteria,
        CriterionBatching batching, CancellationToken cancellationToken);
}
