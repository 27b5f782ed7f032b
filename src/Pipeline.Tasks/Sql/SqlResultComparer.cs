namespace Pipeline.Tasks.Sql;

/// <summary>
/// Decides whether two result sets answer the question the same way: same column count (names ignored, order kept),
/// same rows as a multiset (duplicates count) or, when the gold query sorts, as a sequence.
/// NULL equals NULL; numbers compare with a relative tolerance whether SQLite stored them as integer or real.
/// </summary>
public static class SqlResultComparer
{
    const double RelativeTolerance = 1e-6;

    public static bool Equivalent(SqlExecutionResult gold, SqlExecutionResult predicted, bool orderMatters)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (!gold.Ok || !predicted.Ok || gold.Truncated || predicted.Truncated) return false;
        if (gold.ColumnCount != predicted.ColumnCount || gold.Rows.Count != predicted.Rows.Count) return false;

        IEnumerable<IReadOnlyList<SqlValue>> a = gold.Rows, b = predicted.Rows;
        if (!orderMatters)
        {
            a = a.Order(RowComparer.Instance);
            b = b.Order(RowComparer.Instance);
        }
        return a.Zip(b).All(pair => RowsEqual(pair.First, pair.Second));
    }

    /// <summary>Row order is part of the answer exactly when the gold query has an ORDER BY (outside string literals).</summary>
    public static bool OrderMatters(string goldSql)
    {
        var tokens = SqlTokenizer.Tokenize(goldSql);
        for (var i = 0; i + 1 < tokens.Count; i++)
            if (tokens[i].IsWord("ORDER") && tokens[i + 1].IsWord("BY")) return true;
        return false;
    }

    public static bool ValuesEqual(SqlValue a, SqlValue b) => a.Kind == b.Kind && a.Kind switch
    {
        SqlValueKind.Null => true,
        SqlValueKind.Number => NumbersEqual(a.Number, b.Number),
        _ => string.Equals(a.Text, b.Text, StringComparison.Ordinal),
    };

    static bool NumbersEqual(double x, double y)
        => x == y || Math.Abs(x - y) <= RelativeTolerance * Math.Max(1.0, Math.Max(Math.Abs(x), Math.Abs(y)));

    static bool RowsEqual(IReadOnlyList<SqlValue> a, IReadOnlyList<SqlValue> b)
    {
        if (a.Count != b.Count) return false;
        for (var i = 0; i < a.Count; i++)
            if (!ValuesEqual(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Total order used to line multisets up before the tolerant pairwise check: NULL &lt; number &lt; text &lt; blob.</summary>
    sealed class RowComparer : IComparer<IReadOnlyList<SqlValue>>
    {
        public static readonly RowComparer Instance = new();

        public int Compare(IReadOnlyList<SqlValue>? x, IReadOnlyList<SqlValue>? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            if (x is null) return -1;
            if (y is null) return 1;
            for (var i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                var c = CompareValues(x[i], y[i]);
                if (c != 0) return c;
            }
            return x.Count.CompareTo(y.Count);
        }

        static int CompareValues(SqlValue a, SqlValue b)
        {
            if (a.Kind != b.Kind) return a.Kind.CompareTo(b.Kind);
            return a.Kind switch
            {
                SqlValueKind.Null => 0,
                SqlValueKind.Number => a.Number.CompareTo(b.Number),
                _ => string.CompareOrdinal(a.Text, b.Text),
            };
        }
    }
}
