using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

/// <summary>
/// The execution match written from its definition (test-suite-sql-eval's result_eq): column permutations, bags, ORDER BY,
/// empty results, numbers, NULLs; then on real queries against the task's SQLite files.
/// </summary>
[Collection(SqlTaskCollection.Name)]
public sealed class ExecutionMatchSpec(SqlTaskFixture fixture)
{
    static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    static SqlExecutionResult Result(int columns, params SqlValue[][] rows)
        => new(true, SqlErrorKind.None, null, columns, rows, false, TimeSpan.Zero);

    static SqlExecutionResult Rows(params SqlValue[][] rows) => Result(rows.Length == 0 ? 1 : rows[0].Length, rows);

    static SqlValue[] R(params object?[] values) => values.Select(v => v switch
    {
        null => SqlValue.Null,
        string s => SqlValue.Of(s),
        int i => SqlValue.Of((long)i),
        long l => SqlValue.Of(l),
        _ => SqlValue.Of(Convert.ToDouble(v)),
    }).ToArray();

    static ExecutionVerdictKind Verdict(SqlExecutionResult gold, SqlExecutionResult predicted, bool orderMatters = false, double tolerance = 0)
        => ExecutionMatch.Compare(gold, predicted, orderMatters, new ExecutionMatchOptions(tolerance)).Kind;

    ExecutionVerdictKind OnShop(string gold, string predicted)
        => ExecutionMatch.Compare(fixture.Executor.Execute("shop", gold, Second), fixture.Executor.Execute("shop", predicted, Second), gold).Kind;

    const ExecutionVerdictKind Match = ExecutionVerdictKind.Match, NoMatch = ExecutionVerdictKind.NoMatch, Invalid = ExecutionVerdictKind.Invalid;

    [Fact]
    public void A_permutation_of_the_gold_columns_must_match_but_other_values_must_not()
    {
        Assert.Equal(Match, Verdict(Rows(R("a", 1, 2.5), R("b", 2, 3.5)), Rows(R(2.5, "a", 1), R(3.5, "b", 2))));
        Assert.Equal(Match, Verdict(Rows(R("a", 1), R("b", 2)), Rows(R(2, "b"), R(1, "a")), orderMatters: false));
        // Each column on its own holds the gold's values, yet no permutation pairs them up row by row.
        Assert.Equal(NoMatch, Verdict(Rows(R("a", 1), R("b", 2)), Rows(R("a", 2), R("b", 1))));
    }

    [Fact]
    public void Identical_columns_must_not_hide_a_permutation_that_works()
    {
        var gold = Rows(R(1, 1, 5, 7), R(2, 2, 6, 8));
        Assert.Equal(Match, Verdict(gold, Rows(R(7, 1, 5, 1), R(8, 2, 6, 2))));
        Assert.Equal(NoMatch, Verdict(gold, Rows(R(7, 1, 5, 2), R(8, 2, 6, 1))));
    }

    [Fact]
    public void Rows_must_compare_as_bags_so_duplicates_count()
    {
        Assert.Equal(Match, Verdict(Rows(R(2), R(1), R(1)), Rows(R(1), R(2), R(1))));
        Assert.Equal(NoMatch, Verdict(Rows(R(1), R(1), R(2)), Rows(R(1), R(2), R(2))));
        Assert.Equal(NoMatch, Verdict(Rows(R(1), R(2)), Rows(R(1), R(1), R(2))));
    }

    [Fact]
    public void Row_order_must_matter_only_when_asked_and_then_columns_may_still_be_permuted()
    {
        var gold = Rows(R("a", 1), R("b", 2));
        Assert.Equal(Match, Verdict(gold, Rows(R("b", 2), R("a", 1)), orderMatters: false));
        Assert.Equal(NoMatch, Verdict(gold, Rows(R("b", 2), R("a", 1)), orderMatters: true));
        Assert.Equal(Match, Verdict(gold, Rows(R(1, "a"), R(2, "b")), orderMatters: true));
    }

    [Fact]
    public void Two_empty_results_must_match_whatever_their_columns_but_empty_must_not_match_a_row()
    {
        Assert.Equal(Match, Verdict(Result(2), Result(3)));
        Assert.Equal(Match, Verdict(Result(1), Result(1), orderMatters: true));
        Assert.Equal(NoMatch, Verdict(Result(1), Rows(R((object?)null))));
        Assert.Equal(NoMatch, Verdict(Rows(R(0)), Result(1)));
    }

    [Fact]
    public void Integer_one_and_real_one_must_be_equal_but_numbers_must_otherwise_compare_exactly()
    {
        Assert.Equal(Match, Verdict(Rows(R(1, "x")), Rows(R(1.0, "x"))));
        Assert.Equal(NoMatch, Verdict(Rows(R(0.3)), Rows(R(0.1 + 0.2))));
        Assert.Equal(NoMatch, Verdict(Rows(R(1)), Rows(R(1.000001))));
        // A sum in the billions that is off by one is a wrong answer (a relative tolerance of 1e-6 used to accept it).
        Assert.Equal(NoMatch, Verdict(Rows(R(4_000_000_000L)), Rows(R(4_000_000_001L))));
        Assert.Equal(NoMatch, Verdict(Rows(R(4_000_000_000L)), Rows(R(4_000_000_001.0))));
        // 2^53 + 1 has no double; it must still differ from the real 2^53.
        Assert.Equal(NoMatch, Verdict(Rows(R(9_007_199_254_740_993L)), Rows(R(9_007_199_254_740_992.0))));
        Assert.Equal(Match, Verdict(Rows(R(9_007_199_254_740_992L)), Rows(R(9_007_199_254_740_992.0))));
    }

    [Fact]
    public void A_relative_tolerance_must_be_opt_in()
    {
        Assert.Equal(Match, Verdict(Rows(R(0.3)), Rows(R(0.1 + 0.2)), tolerance: 1e-9));
        Assert.Equal(Match, Verdict(Rows(R(4_000_000_000L)), Rows(R(4_000_000_001L)), tolerance: 1e-6));
        Assert.Equal(NoMatch, Verdict(Rows(R(1)), Rows(R(1.01)), tolerance: 1e-6));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExecutionMatchOptions(-1));
    }

    [Fact]
    public void Text_must_never_equal_a_number_and_null_only_null()
    {
        Assert.Equal(NoMatch, Verdict(Rows(R("3")), Rows(R(3))));
        Assert.Equal(NoMatch, Verdict(Rows(R("1.0")), Rows(R(1.0))));
        Assert.Equal(Match, Verdict(Rows(R(null, "x")), Rows(R("x", null))));
        Assert.Equal(NoMatch, Verdict(Rows(R((object?)null)), Rows(R(0))));
        Assert.Equal(NoMatch, Verdict(Rows(R((object?)null)), Rows(R(""))));
        Assert.Equal(NoMatch, Verdict(Rows(R("abc")), Rows(R("ABC"))));
    }

    [Fact]
    public void Only_a_top_level_order_by_outside_literals_must_make_order_matter()
    {
        Assert.True(ExecutionMatch.OrderMatters("SELECT name FROM customers ORDER BY age DESC LIMIT 3"));
        Assert.True(ExecutionMatch.OrderMatters("select name from customers order\n  by age"));
        Assert.True(ExecutionMatch.OrderMatters("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1"));
        Assert.False(ExecutionMatch.OrderMatters("SELECT name FROM customers WHERE city = 'x order by y'"));
        Assert.False(ExecutionMatch.OrderMatters("SELECT name FROM customers -- order by age"));
        Assert.False(ExecutionMatch.OrderMatters("SELECT name FROM customers WHERE age = (SELECT age FROM customers ORDER BY age LIMIT 1)"));
        Assert.False(ExecutionMatch.OrderMatters("SELECT name, rank() OVER (ORDER BY age) FROM customers"));
    }

    [Fact]
    public void Failures_must_be_no_match_when_the_prediction_is_at_fault_and_invalid_when_nobody_can_judge()
    {
        var good = Rows(R(1));
        Assert.Equal(NoMatch, Verdict(good, SqlExecutionResult.Failure(SqlErrorKind.Syntax, "near x", TimeSpan.Zero)));
        Assert.Equal(NoMatch, Verdict(good, SqlExecutionResult.Failure(SqlErrorKind.Timeout, "slow", TimeSpan.Zero)));
        Assert.Equal(NoMatch, Verdict(good, Rows(R(1), R(2)) with { Truncated = true, Message = "more than the expected 1 rows" }));
        Assert.Equal(Invalid, Verdict(good, SqlExecutionResult.Failure(SqlErrorKind.TooLarge, "big", TimeSpan.Zero)));
        Assert.Equal(Invalid, Verdict(good, Rows(R(1)) with { Truncated = true, RowCapReached = true }));
        Assert.Equal(Invalid, Verdict(SqlExecutionResult.Failure(SqlErrorKind.Runtime, "gold", TimeSpan.Zero), good));
        Assert.Equal(Invalid, Verdict(Rows(R(1)) with { Truncated = true, RowCapReached = true }, good));
    }

    [Fact]
    public void Real_queries_must_follow_the_semantics_on_a_sqlite_database()
    {
        Assert.Equal(Match, OnShop("SELECT name, age FROM customers", "SELECT age, name FROM customers"));
        Assert.Equal(Match, OnShop("SELECT name, age FROM customers ORDER BY id", "SELECT age AS a, name FROM customers ORDER BY id"));
        Assert.Equal(NoMatch, OnShop("SELECT name FROM customers ORDER BY id", "SELECT name FROM customers ORDER BY id DESC"));
        Assert.Equal(Match, OnShop("SELECT name FROM customers WHERE id IN (SELECT id FROM customers ORDER BY id DESC LIMIT 3)",
            "SELECT name FROM customers WHERE id > (SELECT MAX(id) - 3 FROM customers) ORDER BY id DESC"));
        Assert.Equal(NoMatch, OnShop("SELECT city FROM customers", "SELECT DISTINCT city FROM customers"));
        Assert.Equal(Match, OnShop("SELECT COUNT(*) FROM customers", "SELECT COUNT(id) * 1.0 FROM customers"));
        Assert.Equal(NoMatch, OnShop("SELECT COUNT(*) FROM customers", "SELECT COUNT(age) FROM customers"));
        Assert.Equal(NoMatch, OnShop("SELECT COUNT(*) FROM customers", "SELECT CAST(COUNT(*) AS TEXT) FROM customers"));
        Assert.Equal(Match, OnShop("SELECT name FROM customers WHERE 1 = 0", "SELECT id, name, city FROM customers WHERE id < 0"));
        Assert.Equal(Match, OnShop("SELECT 'order by' AS s, name FROM customers", "SELECT name, 'order by' FROM customers ORDER BY id DESC"));
        Assert.Equal(Match, OnShop("SELECT SUM(quantity) * 1000000000 FROM orders", "SELECT SUM(quantity * 1000000000) FROM orders"));
        Assert.Equal(NoMatch, OnShop("SELECT SUM(quantity) * 1000000000 FROM orders", "SELECT SUM(quantity) * 1000000000 + 1 FROM orders"));
    }

    [Fact]
    public void An_empty_gold_result_must_let_the_executor_read_a_prediction_of_another_width()
    {
        var gold = fixture.Executor.Execute("shop", "SELECT name FROM customers WHERE id < 0", Second);
        var predicted = fixture.Executor.Execute("shop", "SELECT id, name FROM customers WHERE age > 1000", Second, SqlExpectedShape.Of(gold));
        Assert.False(predicted.Truncated);
        Assert.Equal(Match, ExecutionMatch.Compare(gold, predicted, "SELECT name FROM customers WHERE id < 0").Kind);
    }
}
