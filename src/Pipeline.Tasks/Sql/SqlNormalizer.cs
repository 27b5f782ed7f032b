using System.Text;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Canonical text for exact-match scoring: keywords upper case, identifiers lower case (SQLite folds ASCII identifiers anyway),
/// one space between tokens except around parentheses, commas and dots, no trailing semicolon, comments dropped,
/// string literal contents untouched.
/// </summary>
public static class SqlNormalizer
{
    static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "GLOB", "BETWEEN", "AS", "ON", "JOIN", "INNER",
        "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "USING", "GROUP", "BY", "HAVING", "ORDER", "ASC", "DESC", "LIMIT",
        "OFFSET", "DISTINCT", "ALL", "UNION", "INTERSECT", "EXCEPT", "CASE", "WHEN", "THEN", "ELSE", "END", "WITH", "RECURSIVE",
        "EXISTS", "CAST", "COLLATE", "ESCAPE", "COUNT", "SUM", "AVG", "MIN", "MAX", "TOTAL", "INSERT", "INTO", "VALUES", "UPDATE",
        "SET", "DELETE", "DROP", "TABLE", "CREATE", "ALTER", "TRUE", "FALSE", "INTEGER", "REAL", "TEXT",
    };

    public static string Normalize(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var tokens = SqlTokenizer.Tokenize(sql).ToList();
        while (tokens.Count > 0 && tokens[^1].IsSymbol(";")) tokens.RemoveAt(tokens.Count - 1);

        var sb = new StringBuilder(sql.Length);
        SqlToken? previous = null;
        foreach (var token in tokens)
        {
            var text = token.Kind == SqlTokenKind.Word
                ? Keywords.Contains(token.Text) ? token.Text.ToUpperInvariant() : token.Text.ToLowerInvariant()
                : token.Text;
            if (previous is { } p && NeedsSpace(p, token)) sb.Append(' ');
            sb.Append(text);
            previous = token;
        }
        return sb.ToString();
    }

    static bool NeedsSpace(SqlToken previous, SqlToken next)
    {
        if (previous.IsSymbol("(") || previous.IsSymbol(".")) return false;
        if (next.IsSymbol(")") || next.IsSymbol(",") || next.IsSymbol(".") || next.IsSymbol(";")) return false;
        // COUNT(*) and count ( * ) normalise alike: no space between a word and its opening parenthesis.
        if (next.IsSymbol("(") && previous.Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier) return false;
        return true;
    }
}
