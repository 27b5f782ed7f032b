namespace Pipeline.Rewards.Rubrics;

/// <summary>
/// A task that ships a rubric and the C# predicates its rubrics may name (for SQL: sql-parses, read-only, known-tables…).
/// The "rubric" reward-source type uses them for the task's own rubric and for any user rubric file.
/// </summary>
public interface IRubricTask
{
    /// <summary>Predicates user rubric files may name; a fresh registry the caller may extend.</summary>
    RubricPredicateRegistry CreateRubricPredicates();

    /// <summary>The rubric shipped with the task, loaded with <paramref name="predicates"/>.</summary>
    Rubric LoadDefaultRubric(RubricPredicateRegistry predicates);
}
