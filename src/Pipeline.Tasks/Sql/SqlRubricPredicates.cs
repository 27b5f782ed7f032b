using System.Runtime.CompilerServices;
using Pipeline.Core.Configuration;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// The SQL task's rubric predicates, for rubric files to name (<c>check { type = predicate, name = known-tables }</c>;
/// <c>sql-parses</c> and <c>read-only</c> also serve the check types of the same names). Each reads the prompt's
/// <c>db</c> tag, takes the SQL out of the completion with <see cref="SqlCompletion.Extract"/> and prepares it without
/// running it (<see cref="SqlExecutor.Inspect"/>). An unknown database throws, so the rubric signal is invalid, never 0.
/// <list type="bullet">
/// <item><c>sql-parses</c>: the (first) statement prepares: it parses and names existing tables and columns.</item>
/// <item><c>read-only</c>: exactly one read-only statement that returns rows and starts with SELECT or WITH.</item>
/// <item><c>known-tables</c>: at least one table after FROM / JOIN / a FROM-list comma, and all of them exist (or are CTEs).</item>
/// <item><c>complete</c>: generation was not truncated and the SQL is not empty.</item>
/// <item><c>select-star</c>: some SELECT (or SELECT DISTINCT / ALL) is followed by <c>*</c> (a pitfall).</item>
/// </list>
/// </summary>
public static class SqlRubricPredicates
{
    public const string SqlParses = "sql-parses", ReadOnly = "read-only", KnownTables = "known-tables",
        Complete = "complete", SelectStar = "select-star";

    /// <summary>The shipped rubric, embedded so tools and tests that do not copy hocon/ still have it.</summary>
    public const string EmbeddedRubricResource = "Pipeline.Tasks.Sql.rubrics.sql.conf";

    /// <summary>Where the CLI output keeps the shipped rubric (the Cli project copies hocon/**/*.conf).</summary>
    public static string DefaultRubricPath => Path.Combine(AppContext.BaseDirectory, "hocon", "rubrics", "sql.conf");

    /// <summary>Per-rollout analysis, shared by the predicates of one <see cref="RubricInput"/> (the engine passes the same instance to every check).</summary>
    private sealed record Analysis(string Sql, SqlStatementInfo Info, IReadOnlyList<SqlToken> Tokens);

    public static RubricPredicateRegistry Create(SqlExecutor executor) => AddTo(new RubricPredicateRegistry(), executor);

    public static RubricPredicateRegistry AddTo(RubricPredicateRegistry registry, SqlExecutor executor)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(executor);
        var cache = new ConditionalWeakTable<RubricInput, Analysis>();

        Analysis Analyse(RubricInput input) => cache.GetValue(input, i =>
        {
            var db = i.Prompt.Tag("db");
            if (!executor.HasDatabase(db)) throw new InvalidOperationException($"unknown database '{db}'");
            var sql = SqlCompletion.Extract(i.Completion);
            return new Analysis(sql, executor.Inspect(db, sql), SqlTokenizer.Tokenize(sql));
        });

        return registry
            .Register(SqlParses, i => Analyse(i).Info.Parses)
            .Register(ReadOnly, i =>
            {
                var a = Analyse(i);
                return a.Info is { Parses: true, SingleStatement: true, ReadOnly: true, ReturnsRows: true }
                       && a.Tokens.Count > 0 && (a.Tokens[0].IsWord("SELECT") || a.Tokens[0].IsWord("WITH"));
            })
            .Register(KnownTables, i => ReferencesOnlyKnownTables(Analyse(i).Tokens, executor.Tables(i.Prompt.Tag("db"))))
            .Register(Complete, i => !i.Truncated && Analyse(i).Sql.Length > 0)
            .Register(SelectStar, i => SelectsStar(Analyse(i).Tokens));
    }

    /// <summary>
    /// Loads the SQL rubric: from <paramref name="path"/> when given (it must exist), else from <see cref="DefaultRubricPath"/>
    /// when that file exists, else from the copy embedded in this assembly.
    /// </summary>
    /// <exception cref="ConfigException">The file is missing or not a valid rubric.</exception>
    public static Rubric LoadRubric(string? path, RubricPredicateRegistry predicates)
    {
        ArgumentNullException.ThrowIfNull(predicates);
        if (path is not null)
            return File.Exists(path)
                ? RubricFile.Load(path, predicates)
                : throw new ConfigException($"rubric file '{Path.GetFullPath(path)}' does not exist");
        if (File.Exists(DefaultRubricPath)) return RubricFile.Load(DefaultRubricPath, predicates);
        return RubricFile.Parse(EmbeddedRubricText(), RubricFormat.Hocon, $"embedded rubric '{EmbeddedRubricResource}'", predicates);
    }

    public static string EmbeddedRubricText()
    {
        using var stream = typeof(SqlRubricPredicates).Assembly.GetManifestResourceStream(EmbeddedRubricResource)
                           ?? throw new InvalidOperationException($"resource '{EmbeddedRubricResource}' is missing from {typeof(SqlRubricPredicates).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Table names follow FROM, JOIN or a comma in a FROM list; names defined by WITH (CTEs) count as known.</summary>
    internal static bool ReferencesOnlyKnownTables(IReadOnlyList<SqlToken> tokens, IReadOnlySet<string> known)
    {
        var cteNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 2 < tokens.Count; i++)
            if (tokens[i].Kind == SqlTokenKind.Word && tokens[i + 1].IsWord("AS") && tokens[i + 2].IsSymbol("("))
                cteNames.Add(tokens[i].Text);

        var referenced = new List<string>();
        var inFrom = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t.IsWord("FROM") || t.IsWord("JOIN") || (inFrom && t.IsSymbol(",")))
            {
                inFrom = true;
                if (i + 1 < tokens.Count && tokens[i + 1].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier)
                {
                    var j = i + 1;
                    while (j + 2 < tokens.Count && tokens[j + 1].IsSymbol(".")) j += 2; // schema.table -> table
                    referenced.Add(tokens[j].Text.Trim('"', '`', '[', ']'));
                }
            }
            else if (t.IsWord("WHERE") || t.IsWord("GROUP") || t.IsWord("ORDER") || t.IsWord("LIMIT") || t.IsWord("HAVING")
                     || t.IsSymbol("(") || t.IsSymbol(")"))
            {
                inFrom = false;
            }
        }
        return referenced.Count > 0 && referenced.All(name => known.Contains(name) || cteNames.Contains(name));
    }

    internal static bool SelectsStar(IReadOnlyList<SqlToken> tokens)
    {
        for (var i = 0; i + 1 < tokens.Count; i++)
        {
            if (!tokens[i].IsWord("SELECT")) continue;
            var j = i + 1;
            if (tokens[j].IsWord("DISTINCT") || tokens[j].IsWord("ALL")) j++;
            if (j < tokens.Count && tokens[j].IsSymbol("*")) return true;
        }
        return false;
    }
}
