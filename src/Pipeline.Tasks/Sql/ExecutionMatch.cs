namespace Pipeline.Tasks.Sql;

/// <summary>The three outcomes of an execution comparison.</summary>
public enum ExecutionVerdictKind
{
    /// <summary>The predicted result is the gold result (up to a column permutation, and row order where it does not matter).</summary>
    Match,
    /// <summary>The prediction is wrong: another result, or a query that failed by its own fault (syntax, write, timeout, ...).</summary>
    NoMatch,
    /// <summary>Nobody can tell: the gold query failed, or a result was cut at the row cap or the byte budget. Mask it, never score it 0.</summary>
    Invalid,
}

/// <summary>What <see cref="ExecutionMatch.Compare(SqlExecutionResult, SqlExecutionResult, string, ExecutionMatchOptions?)"/> decided, and why.</summary>
public sealed record ExecutionVerdict(ExecutionVerdictKind Kind, string Reason)
{
    public static readonly ExecutionVerdict Match = new(ExecutionVerdictKind.Match, "match");
    public static ExecutionVerdict NoMatch(string reason) => new(ExecutionVerdictKind.NoMatch, reason);
    public static ExecutionVerdict Invalid(string reason) => new(ExecutionVerdictKind.Invalid, reason);

    public bool IsMatch => Kind == ExecutionVerdictKind.Match;
    public bool IsInvalid => Kind == ExecutionVerdictKind.Invalid;
}

/// <summary>
/// How numbers compare. <see cref="RelativeTolerance"/> 0 (the default, pipeline.task.sql.relative-tolerance) is exact equality, where
/// SQLite's integer 1 and real 1.0 are equal and 2^53 + 1 is not 2^53 as a real; above 0, x and y are equal when
/// |x - y| &lt;= tolerance * max(1, |x|, |y|).
/// </summary>
public sealed record ExecutionMatchOptions(double RelativeTolerance = 0)
{
    public static readonly ExecutionMatchOptions Exact = new();

    public double RelativeTolerance { get; } = RelativeTolerance >= 0 && double.IsFinite(RelativeTolerance)
        ? RelativeTolerance
        : throw new ArgumentOutOfRangeException(nameof(RelativeTolerance), RelativeTolerance, "a relative tolerance is a finite number >= 0");
}

/// <summary>
/// Execution match with the semantics of test-suite-sql-eval's <c>result_eq</c> (taoyds/test-suite-sql-eval, exec_eval.py), the
/// community's reference for Spider: the one comparison used by the execution reward, the evaluators and the Spider task.
/// <list type="bullet">
/// <item>Two empty results match whatever their columns.</item>
/// <item>Otherwise row and column counts must agree, and some permutation of the predicted columns must make the results equal:
/// as bags of rows (duplicates count), or as sequences when the gold query has a top-level ORDER BY (<see cref="OrderMatters"/>).</item>
/// <item>Cells: NULL equals NULL only; text equals text ordinally; numbers compare by value whether SQLite stored an integer or a
/// real (exactly by default, see <see cref="ExecutionMatchOptions"/>); text never equals a number, nor a blob.</item>
/// <item>A result the executor could not finish (row cap, byte budget) or a failing gold query is <see cref="ExecutionVerdictKind.Invalid"/>;
/// a predicted query that fails by itself is <see cref="ExecutionVerdictKind.NoMatch"/>.</item>
/// </list>
/// docs/experiments.md lists where we deliberately differ from the reference (the ORDER BY test, and a quirk of its row pre-check).
/// </summary>
public static class ExecutionMatch
{
    /// <summary>Compares <paramref name="predicted"/> with <paramref name="gold"/>; row order matters when <paramref name="goldSql"/> sorts at top level.</summary>
    public static ExecutionVerdict Compare(SqlExecutionResult gold, SqlExecutionResult predicted, string goldSql, ExecutionMatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(goldSql);
        return Compare(gold, predicted, OrderMatters(goldSql), options);
    }

    /// <summary>As <see cref="Compare(SqlExecutionResult, SqlExecutionResult, string, ExecutionMatchOptions?)"/> with the order decided by the caller.</summary>
    public static ExecutionVerdict Compare(SqlExecutionResult gold, SqlExecutionResult predicted, bool orderMatters, ExecutionMatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        options ??= ExecutionMatchOptions.Exact;
        if (!gold.Ok) return ExecutionVerdict.Invalid($"gold query failed ({gold.Error}): {gold.Message}");
        if (gold.Truncated) return ExecutionVerdict.Invalid($"gold result not read to the end: {gold.Message}");
        if (predicted.Error == SqlErrorKind.TooLarge) return ExecutionVerdict.Invalid($"{predicted.Error}: {predicted.Message}");
        if (predicted.RowCapReached) return ExecutionVerdict.Invalid($"predicted result not read to the end: {predicted.Message}");
        if (!predicted.Ok) return ExecutionVerdict.NoMatch($"{predicted.Error}: {predicted.Message}");
        if (predicted.Truncated) return ExecutionVerdict.NoMatch($"mismatch: {predicted.Message}");
        return RowsMatch(gold.Rows, predicted.Rows, orderMatters, options)
            ? ExecutionVerdict.Match
            : ExecutionVerdict.NoMatch($"mismatch: {predicted.Rows.Count}x{predicted.ColumnCount} vs gold {gold.Rows.Count}x{gold.ColumnCount}");
    }

    /// <summary>
    /// The core of the comparison on plain rows: both empty, or same counts and a column permutation of <paramref name="predicted"/>
    /// that equals <paramref name="gold"/> as a bag (or a sequence when <paramref name="orderMatters"/>).
    /// </summary>
    public static bool RowsMatch(IReadOnlyList<IReadOnlyList<SqlValue>> gold, IReadOnlyList<IReadOnlyList<SqlValue>> predicted,
        bool orderMatters, ExecutionMatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        var cells = new CellComparer(options ?? ExecutionMatchOptions.Exact);
        if (gold.Count == 0 && predicted.Count == 0) return true;
        if (gold.Count != predicted.Count) return false;
        var width = gold[0].Count;
        if (gold.Any(r => r.Count != width) || predicted.Any(r => r.Count != width)) return false;

        // A column can only be mapped onto a gold column holding the same bag of values; this prunes the permutation search.
        var goldColumns = Enumerable.Range(0, width).Select(c => SortedColumn(gold, c, cells)).ToArray();
        var predictedColumns = Enumerable.Range(0, width).Select(c => SortedColumn(predicted, c, cells)).ToArray();
        var candidates = new List<int>[width];
        for (var g = 0; g < width; g++)
        {
            candidates[g] = [];
            for (var p = 0; p < width; p++)
                if (SequenceEqual(goldColumns[g], predictedColumns[p], cells)) candidates[g].Add(p);
            if (candidates[g].Count == 0) return false;
        }

        // Columns that are equal cell by cell are interchangeable: trying one of them is enough.
        var twinOf = new int[width];
        for (var p = 0; p < width; p++)
        {
            twinOf[p] = p;
            for (var q = 0; q < p; q++)
                if (twinOf[q] == q && predicted.All(r => cells.Compare(r[p], r[q]) == 0)) { twinOf[p] = q; break; }
        }

        var goldRows = orderMatters ? gold : Sorted(gold, cells);
        var permutation = new int[width];
        var used = new bool[width];
        return Assign(0);

        bool Assign(int g)
        {
            if (g == width) return Equal(goldRows, Permuted(predicted, permutation, orderMatters, cells), cells);
            var triedTwins = new HashSet<int>();
            foreach (var p in candidates[g])
            {
                // A twin of a column already tried here gives the same permuted result.
                if (used[p] || !triedTwins.Add(twinOf[p])) continue;
                used[p] = true;
                permutation[g] = p;
                if (Assign(g + 1)) return true;
                used[p] = false;
            }
            return false;
        }
    }

    /// <summary>
    /// Row order is part of the answer exactly when the gold query ends in an ORDER BY of its own (at the top level, outside string
    /// literals, comments, subqueries and window definitions).
    /// </summary>
    public static bool OrderMatters(string goldSql)
    {
        ArgumentNullException.ThrowIfNull(goldSql);
        var tokens = SqlTokenizer.Tokenize(goldSql);
        var depth = 0;
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].IsSymbol("(")) depth++;
            else if (tokens[i].IsSymbol(")")) depth = Math.Max(0, depth - 1);
            else if (depth == 0 && i + 1 < tokens.Count && tokens[i].IsWord("ORDER") && tokens[i + 1].IsWord("BY")) return true;
        }
        return false;
    }

    /// <summary>Cell equality under <paramref name="options"/> (exact by default).</summary>
    public static bool ValuesEqual(SqlValue a, SqlValue b, ExecutionMatchOptions? options = null)
        => new CellComparer(options ?? ExecutionMatchOptions.Exact).Compare(a, b) == 0;

    static SqlValue[] SortedColumn(IReadOnlyList<IReadOnlyList<SqlValue>> rows, int column, CellComparer cells)
    {
        var values = rows.Select(r => r[column]).ToArray();
        Array.Sort(values, cells.Order);
        return values;
    }

    static bool SequenceEqual(IReadOnlyList<SqlValue> a, IReadOnlyList<SqlValue> b, CellComparer cells)
    {
        for (var i = 0; i < a.Count; i++)
            if (cells.Compare(a[i], b[i]) != 0) return false;
        return true;
    }

    static IReadOnlyList<IReadOnlyList<SqlValue>> Permuted(IReadOnlyList<IReadOnlyList<SqlValue>> rows, int[] permutation, bool keepOrder, CellComparer cells)
    {
        var result = rows.Select(r => (IReadOnlyList<SqlValue>)permutation.Select(p => r[p]).ToArray()).ToList();
        return keepOrder ? result : Sorted(result, cells);
    }

    static IReadOnlyList<IReadOnlyList<SqlValue>> Sorted(IReadOnlyList<IReadOnlyList<SqlValue>> rows, CellComparer cells)
    {
        var sorted = rows.ToArray();
        Array.Sort(sorted, cells.RowOrder);
        return sorted;
    }

    static bool Equal(IReadOnlyList<IReadOnlyList<SqlValue>> a, IReadOnlyList<IReadOnlyList<SqlValue>> b, CellComparer cells)
    {
        for (var i = 0; i < a.Count; i++)
            if (!SequenceEqual(a[i], b[i], cells)) return false;
        return true;
    }

    /// <summary>
    /// Equality (Compare == 0, tolerant when asked) and a total order for sorting (exact: NULL &lt; number &lt; text &lt; blob).
    /// Sorting is exact so that both sides line up the same way; the tolerant check then runs pairwise on the lined-up rows.
    /// </summary>
    sealed class CellComparer(ExecutionMatchOptions options)
    {
        public IComparer<SqlValue> Order { get; } = Comparer<SqlValue>.Create(ExactOrder);
        public IComparer<IReadOnlyList<SqlValue>> RowOrder { get; } = Comparer<IReadOnlyList<SqlValue>>.Create((x, y) =>
        {
            for (var i = 0; i < Math.Min(x!.Count, y!.Count); i++)
            {
                var c = ExactOrder(x[i], y[i]);
                if (c != 0) return c;
            }
            return x.Count.CompareTo(y.Count);
        });

        public int Compare(SqlValue a, SqlValue b)
        {
            var exact = ExactOrder(a, b);
            if (exact == 0 || options.RelativeTolerance == 0 || a.Kind != SqlValueKind.Number || b.Kind != SqlValueKind.Number) return exact;
            var (x, y) = (a.Number, b.Number);
            return Math.Abs(x - y) <= options.RelativeTolerance * Math.Max(1.0, Math.Max(Math.Abs(x), Math.Abs(y))) ? 0 : exact;
        }

        static int ExactOrder(SqlValue a, SqlValue b)
        {
            if (a.Kind != b.Kind) return a.Kind.CompareTo(b.Kind);
            return a.Kind switch
            {
                SqlValueKind.Null => 0,
                SqlValueKind.Number => CompareNumbers(a, b),
                _ => string.CompareOrdinal(a.Text, b.Text),
            };
        }
    }

    /// <summary>Exact numeric order across SQLite's integers (64-bit) and reals (double), as mathematics orders them.</summary>
    static int CompareNumbers(SqlValue a, SqlValue b)
    {
        return (a.Integer, b.Integer) switch
        {
            ({ } x, { } y) => x.CompareTo(y),
            ({ } x, null) => IntegerVersusReal(x, b.Number),
            (null, { } y) => -IntegerVersusReal(y, a.Number),
            _ => a.Number.CompareTo(b.Number),
        };

        static int IntegerVersusReal(long x, double y)
        {
            if (double.IsNaN(y)) return 1;
            // 2^63 is exactly representable; every long is below it and at or above -2^63.
            if (y >= 9223372036854775808.0) return -1;
            if (y < -9223372036854775808.0) return 1;
            var whole = Math.Truncate(y);
            var c = x.CompareTo((long)whole);
            if (c != 0) return c;
            var fraction = y - whole;
            return fraction > 0 ? -1 : fraction < 0 ? 1 : 0;
        }
    }
}
