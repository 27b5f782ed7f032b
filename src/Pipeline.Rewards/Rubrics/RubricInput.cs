using Pipeline.Core.Protocol;

namespace Pipeline.Rewards.Rubrics;

/// <summary>
/// What a rubric criterion looks at: the prompt (with its tags and reference), the completion text as the policy wrote it,
/// and whether generation stopped at the token limit. One instance per rollout is shared by all of that rollout's checks,
/// so predicates may cache per-input work keyed on the instance (e.g. in a <c>ConditionalWeakTable</c>).
/// </summary>
public sealed record RubricInput(Prompt Prompt, string Completion, bool Truncated);

/// <summary>
/// C# predicates a rubric can name (<c>check = { type = predicate, name = known-tables }</c>). The check types
/// <c>sql-parses</c> and <c>read-only</c> are shorthands for the predicates of those names, which the task registers
/// (the rubric engine itself has no database). Names are case-sensitive; registering a name again replaces it.
/// A predicate returns whether the criterion holds; throwing makes that rollout's rubric signal invalid.
/// </summary>
public sealed class RubricPredicateRegistry
{
    private readonly Dictionary<string, Func<RubricInput, bool>> _predicates = new(StringComparer.Ordinal);

    public RubricPredicateRegistry Register(string name, Func<RubricInput, bool> predicate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(predicate);
        _predicates[name] = predicate;
        return this;
    }

    public bool Contains(string name) => _predicates.ContainsKey(name);

    public bool TryGet(string name, out Func<RubricInput, bool> predicate)
    {
        var found = _predicates.TryGetValue(name, out var p);
        predicate = p!;
        return found;
    }

    /// <summary>Registered names, sorted.</summary>
    public IReadOnlyList<string> Names => _predicates.Keys.Order(StringComparer.Ordinal).ToArray();
}
