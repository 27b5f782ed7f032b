using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Spider;

/// <summary>
/// What Spider's evaluation counts in a gold query (taoyds/spider evaluation.py, on the outermost SELECT, the left side of a
/// UNION / INTERSECT / EXCEPT): <see cref="Component1"/> = WHERE, GROUP BY, ORDER BY and LIMIT present (1 each), one per joined
/// table, one per OR and one per LIKE condition (ON, WHERE, HAVING); <see cref="Component2"/> = nested queries (a subquery as a
/// condition's value, and the right side of a set operation); <see cref="Others"/> = one each for more than one aggregation,
/// more than one SELECT column, more than one WHERE condition and more than one GROUP BY column.
/// </summary>
public sealed record SpiderComponentCounts(int Component1, int Component2, int Others);

/// <summary>
/// Spider's hardness levels (easy, medium, hard, extra) computed from a gold query's text as Spider's eval_hardness defines
/// them. Spider counts on its parse tree; this reads the same parts off our forgiving tokenizer, so it never throws.
/// Spider's own quirks are kept so labels match published ones: in WHERE and HAVING it counts a NOT condition (NOT IN, NOT LIKE)
/// as an aggregation, and in HAVING each AND / OR too, while an aggregate inside a condition is not counted; a subquery in FROM
/// is a joined table, not a nested query. Our one extension: each WITH (CTE) definition counts as a nested query.
/// </summary>
public static class SpiderHardness
{
    public const string Easy = "easy", Medium = "medium", Hard = "hard", Extra = "extra";

    public static readonly IReadOnlyList<string> Levels = [Easy, Medium, Hard, Extra];

    private static readonly HashSet<string> Aggregates = new(StringComparer.OrdinalIgnoreCase) { "count", "sum", "avg", "min", "max" };
    private static readonly HashSet<string> SetOperators = new(StringComparer.OrdinalIgnoreCase) { "UNION", "INTERSECT", "EXCEPT" };

    public static string Classify(string sql) => Level(Count(sql));

    /// <summary>Spider's thresholds over the three counts.</summary>
    public static string Level(SpiderComponentCounts counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var (c1, c2, others) = (counts.Component1, counts.Component2, counts.Others);
        if (c1 <= 1 && others == 0 && c2 == 0) return Easy;
        if ((others <= 2 && c1 <= 1 && c2 == 0) || (c1 <= 2 && others < 2 && c2 == 0)) return Medium;
        if ((others > 2 && c1 <= 2 && c2 == 0) || (c1 > 2 && c1 <= 3 && others <= 2 && c2 == 0) || (c1 <= 1 && others == 0 && c2 <= 1))
            return Hard;
        return Extra;
    }

    public static SpiderComponentCounts Count(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var tokens = SqlTokenizer.Tokenize(sql).ToList();
        while (tokens.Count > 0 && tokens[^1].IsSymbol(";")) tokens.RemoveAt(tokens.Count - 1);
        var nested = 0;
        var start = 0;
        if (tokens.Count > 0 && tokens[0].IsWord("WITH")) (start, nested) = SkipCommonTableExpressions(tokens);

        // The outermost query is the left side of the first set operator at depth 0; the right side is one nested query.
        var end = tokens.Count;
        var depth = 0;
        for (var i = start; i < tokens.Count; i++)
        {
            depth += Depth(tokens[i]);
            if (depth == 0 && tokens[i].Kind == SqlTokenKind.Word && SetOperators.Contains(tokens[i].Text))
            {
                end = i;
                nested++;
                break;
            }
        }
        var clauses = Clauses(tokens, start, end);

        var c1 = 0;
        var aggregations = 0;
        var select = Items(clauses.GetValueOrDefault("SELECT", []));
        aggregations += select.Count(HasAggregate);

        var (tables, onConditions, onConnectors) = From(clauses.GetValueOrDefault("FROM", []));
        c1 += Math.Max(0, tables - 1);

        var (where, whereConnectors) = Conditions(clauses.GetValueOrDefault("WHERE", []));
        var (having, havingConnectors) = Conditions(clauses.GetValueOrDefault("HAVING", []));
        var groupBy = Items(clauses.GetValueOrDefault("GROUP BY", []));
        var orderBy = Items(clauses.GetValueOrDefault("ORDER BY", []));
        if (where.Count > 0) c1++;
        if (groupBy.Count > 0) c1++;
        if (orderBy.Count > 0) c1++;
        if (clauses.ContainsKey("LIMIT")) c1++;
        var allConditions = onConditions.Concat(where).Concat(having).ToList();
        c1 += onConnectors.Concat(whereConnectors).Concat(havingConnectors).Count(c => c == "OR");
        c1 += allConditions.Count(c => TopLevel(c).Any(t => t.IsWord("LIKE")));
        nested += allConditions.Sum(Subqueries);

        // Spider's count_agg reads a condition's NOT flag where it means an aggregation, and HAVING's AND / OR tokens too.
        aggregations += where.Count(IsNegated);
        aggregations += groupBy.Count(HasAggregate);
        aggregations += orderBy.Sum(item => Math.Min(2, AggregateCalls(item)));
        aggregations += having.Count(IsNegated) + havingConnectors.Count;

        var others = 0;
        if (aggregations > 1) others++;
        if (select.Count > 1) others++;
        if (where.Count > 1) others++;
        if (groupBy.Count > 1) others++;
        return new SpiderComponentCounts(c1, nested, others);
    }

    private static int Depth(SqlToken t) => t.IsSymbol("(") ? 1 : t.IsSymbol(")") ? -1 : 0;

    /// <summary>Skips "WITH [RECURSIVE] name [(cols)] AS (...), ..." and returns where the main query starts and how many CTEs it had.</summary>
    private static (int Start, int Count) SkipCommonTableExpressions(List<SqlToken> tokens)
    {
        var i = 1;
        var count = 0;
        if (i < tokens.Count && tokens[i].IsWord("RECURSIVE")) i++;
        while (i < tokens.Count)
        {
            // Skip to the AS, then over its parenthesised body.
            while (i < tokens.Count && !tokens[i].IsWord("AS")) i = tokens[i].IsSymbol("(") ? Close(tokens, i) + 1 : i + 1;
            i++;
            while (i < tokens.Count && tokens[i].Kind == SqlTokenKind.Word && !tokens[i].IsWord("SELECT")) i++;  // [NOT] MATERIALIZED
            if (i >= tokens.Count || !tokens[i].IsSymbol("(")) break;
            i = Close(tokens, i) + 1;
            count++;
            if (i < tokens.Count && tokens[i].IsSymbol(",")) { i++; continue; }
            break;
        }
        return (Math.Min(i, tokens.Count), count);
    }

    /// <summary>Index of the parenthesis closing the one at <paramref name="open"/> (or the last token when unbalanced).</summary>
    private static int Close(List<SqlToken> tokens, int open)
    {
        var depth = 0;
        for (var i = open; i < tokens.Count; i++)
        {
            depth += Depth(tokens[i]);
            if (depth == 0) return i;
        }
        return tokens.Count - 1;
    }

    /// <summary>The outermost query's clauses by keyword (SELECT, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT), at depth 0.</summary>
    private static Dictionary<string, List<SqlToken>> Clauses(List<SqlToken> tokens, int start, int end)
    {
        var clauses = new Dictionary<string, List<SqlToken>>(StringComparer.Ordinal);
        List<SqlToken>? current = null;
        var depth = 0;
        for (var i = start; i < end; i++)
        {
            var t = tokens[i];
            if (depth == 0 && t.Kind == SqlTokenKind.Word)
            {
                string? clause = t.Text.ToUpperInvariant() switch
                {
                    "SELECT" or "FROM" or "WHERE" or "HAVING" or "LIMIT" => t.Text.ToUpperInvariant(),
                    "GROUP" or "ORDER" when i + 1 < end && tokens[i + 1].IsWord("BY") => t.Text.ToUpperInvariant() + " BY",
                    _ => null,
                };
                if (clause is not null && !clauses.ContainsKey(clause))
                {
                    clauses[clause] = current = [];
                    if (clause.EndsWith(" BY", StringComparison.Ordinal)) i++;
                    continue;
                }
            }
            depth += Depth(t);
            current?.Add(t);
        }
        return clauses;
    }

    /// <summary>A clause's items split at depth-0 commas, DISTINCT / ALL and ASC / DESC dropped.</summary>
    private static List<List<SqlToken>> Items(List<SqlToken> clause)
    {
        var items = new List<List<SqlToken>>();
        var current = new List<SqlToken>();
        var depth = 0;
        foreach (var t in clause)
        {
            if (depth == 0 && t.IsSymbol(","))
            {
                items.Add(current);
                current = [];
                continue;
            }
            depth += Depth(t);
            if (depth == 0 && (t.IsWord("DISTINCT") || t.IsWord("ALL") || t.IsWord("ASC") || t.IsWord("DESC")) ) continue;
            current.Add(t);
        }
        if (current.Count > 0 || items.Count > 0) items.Add(current);
        return items.Where(i => i.Count > 0).ToList();
    }

    /// <summary>Tables in FROM (one, plus one per JOIN or comma) and the ON conditions with their connectors.</summary>
    private static (int Tables, List<List<SqlToken>> Conditions, List<string> Connectors) From(List<SqlToken> clause)
    {
        if (clause.Count == 0) return (0, [], []);
        var tables = 1;
        var conditions = new List<List<SqlToken>>();
        var connectors = new List<string>();
        List<SqlToken>? on = null;
        var depth = 0;
        void FlushOn()
        {
            if (on is null) return;
            var (conds, conns) = Conditions(on);
            // Spider joins the conditions of several ONs with AND.
            if (conditions.Count > 0 && conds.Count > 0) connectors.Add("AND");
            conditions.AddRange(conds);
            connectors.AddRange(conns);
            on = null;
        }
        foreach (var t in clause)
        {
            if (depth == 0 && (t.IsWord("JOIN") || t.IsSymbol(",")))
            {
                FlushOn();
                tables++;
                continue;
            }
            if (depth == 0 && t.IsWord("ON"))
            {
                FlushOn();
                on = [];
                continue;
            }
            depth += Depth(t);
            on?.Add(t);
        }
        FlushOn();
        return (tables, conditions, connectors);
    }

    /// <summary>A condition split at depth-0 AND / OR (the AND of a BETWEEN stays inside its condition), with the connectors.</summary>
    private static (List<List<SqlToken>> Conditions, List<string> Connectors) Conditions(List<SqlToken> clause)
    {
        var conditions = new List<List<SqlToken>>();
        var connectors = new List<string>();
        if (clause.Count == 0) return (conditions, connectors);
        var current = new List<SqlToken>();
        var depth = 0;
        var between = false;
        foreach (var t in clause)
        {
            if (depth == 0 && t.IsWord("BETWEEN")) between = true;
            if (depth == 0 && (t.IsWord("AND") || t.IsWord("OR")))
            {
                if (between && t.IsWord("AND"))
                {
                    between = false;
                    current.Add(t);
                    continue;
                }
                conditions.Add(current);
                connectors.Add(t.Text.ToUpperInvariant());
                current = [];
                continue;
            }
            depth += Depth(t);
            current.Add(t);
        }
        conditions.Add(current);
        return (conditions, connectors);
    }

    /// <summary>The tokens at depth 0 of an item or condition.</summary>
    private static IEnumerable<SqlToken> TopLevel(List<SqlToken> tokens)
    {
        var depth = 0;
        foreach (var t in tokens)
        {
            if (depth == 0 && !t.IsSymbol("(") && !t.IsSymbol(")")) yield return t;
            depth += Depth(t);
        }
    }

    /// <summary>Spider's not_op: NOT before the operator (NOT IN, NOT LIKE, NOT BETWEEN), outside parentheses.</summary>
    private static bool IsNegated(List<SqlToken> condition) => TopLevel(condition).Any(t => t.IsWord("NOT"));

    /// <summary>Parenthesised SELECTs directly in a condition: its nested queries.</summary>
    private static int Subqueries(List<SqlToken> condition)
    {
        var count = 0;
        var depth = 0;
        for (var i = 0; i < condition.Count; i++)
        {
            if (depth == 0 && condition[i].IsSymbol("(") && i + 1 < condition.Count && condition[i + 1].IsWord("SELECT")) count++;
            depth += Depth(condition[i]);
        }
        return count;
    }

    private static bool HasAggregate(List<SqlToken> item) => AggregateCalls(item) > 0;

    /// <summary>Aggregate calls (count( ... ), max( ... )) outside any subquery.</summary>
    private static int AggregateCalls(List<SqlToken> item)
    {
        var count = 0;
        var depth = 0;
        for (var i = 0; i + 1 < item.Count; i++)
        {
            if (depth == 0 && item[i].Kind == SqlTokenKind.Word && Aggregates.Contains(item[i].Text) && item[i + 1].IsSymbol("(")) count++;
            if (item[i].IsSymbol("(") && i + 1 < item.Count && item[i + 1].IsWord("SELECT")) depth++;
            else if (depth > 0) depth += Depth(item[i]);
        }
        return count;
    }
}
