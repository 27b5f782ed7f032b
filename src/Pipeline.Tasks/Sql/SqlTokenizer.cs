namespace Pipeline.Tasks.Sql;

internal enum SqlTokenKind { Word, Number, String, QuotedIdentifier, Symbol }

internal readonly record struct SqlToken(SqlTokenKind Kind, string Text)
{
    public bool IsWord(string word) => Kind == SqlTokenKind.Word && string.Equals(Text, word, StringComparison.OrdinalIgnoreCase);
    public bool IsSymbol(string symbol) => Kind == SqlTokenKind.Symbol && Text == symbol;
}

/// <summary>A forgiving lexer for SQLite text: never throws; an unterminated literal runs to the end. Comments are dropped.</summary>
internal static class SqlTokenizer
{
    static readonly string[] TwoCharSymbols = ["<=", ">=", "<>", "!=", "==", "||", "<<", ">>"];

    public static IReadOnlyList<SqlToken> Tokenize(string sql)
    {
        var tokens = new List<SqlToken>();
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c == '-' && At(sql, i + 1) == '-')
            {
                while (i < sql.Length && sql[i] != '\n') i++;
                continue;
            }
            if (c == '/' && At(sql, i + 1) == '*')
            {
                var end = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? sql.Length : end + 2;
                continue;
            }
            if (c is '\'' or '"' or '`' or '[')
            {
                var close = c == '[' ? ']' : c;
                var j = i + 1;
                while (j < sql.Length)
                {
                    if (sql[j] == close)
                    {
                        if (close != ']' && At(sql, j + 1) == close) { j += 2; continue; } // doubled quote escapes itself
                        j++;
                        break;
                    }
                    j++;
                }
                tokens.Add(new(c == '\'' ? SqlTokenKind.String : SqlTokenKind.QuotedIdentifier, sql[i..Math.Min(j, sql.Length)]));
                i = j;
                continue;
            }
            if (char.IsDigit(c) || (c == '.' && char.IsDigit(At(sql, i + 1))))
            {
                var j = i;
                while (j < sql.Length && (char.IsLetterOrDigit(sql[j]) || sql[j] == '.' ||
                                          ((sql[j] is '+' or '-') && (sql[j - 1] is 'e' or 'E')))) j++;
                tokens.Add(new(SqlTokenKind.Number, sql[i..j]));
                i = j;
                continue;
            }
            if (char.IsLetter(c) || c == '_' || c == '$' || c == '@' || c == ':')
            {
                var j = i + 1;
                while (j < sql.Length && (char.IsLetterOrDigit(sql[j]) || sql[j] is '_' or '$')) j++;
                tokens.Add(new(SqlTokenKind.Word, sql[i..j]));
                i = j;
                continue;
            }
            var two = i + 1 < sql.Length ? sql.Substring(i, 2) : "";
            if (TwoCharSymbols.Contains(two))
            {
                tokens.Add(new(SqlTokenKind.Symbol, two));
                i += 2;
                continue;
            }
            tokens.Add(new(SqlTokenKind.Symbol, c.ToString()));
            i++;
        }
        return tokens;
    }

    static char At(string s, int i) => i < s.Length ? s[i] : '\0';
}
