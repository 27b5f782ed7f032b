using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

[Collection(SqlTaskCollection.Name)]
public sealed class SqlResultComparerSpec(SqlTaskFixture fixture)
{
    static SqlExecutionResult Rows(params SqlValue[][] rows)
        => new(true, SqlErrorKind.None, null, rows.Length == 0 ? 1 : rows[0].Length, rows, false, TimeSpan.Zero);

    static SqlValue[] R(params object?[] values) => values.Select(v => v switch
    {
        null => SqlValue.Null,
        string s => SqlValue.Of(s),
        _ => SqlValue.Of(Convert.ToDouble(v)),
    }).ToArray();

    bool SameAnswer(string gold, string predicted, string db = "shop")
    {
        var g = fixture.Executor.Execute(db, gold, TimeSpan.FromSeconds(1));
        var p = fixture.Executor.Execute(db, predicted, TimeSpan.FromSeconds(1));
        return SqlResultComparer.Equivalent(g, p, SqlResultComparer.OrderMatters(gold));
    }

    [Fact]
    public void Order_must_matter_only_when_the_gold_query_sorts()
    {
        var ab = Rows(R("a"), R("b"));
        var ba = Rows(R("b"), R("a"));
        Assert.True(SqlResultComparer.Equivalent(ab, ba, orderMatters: false));
        Assert.False(SqlResultComparer.Equivalent(ab, ba, orderMatters: true));
        Assert.True(SqlResultComparer.OrderMatters("SELECT name FROM customers ORDER BY age DESC LIMIT 3"));
        Assert.True(SqlResultComparer.OrderMatters("select name from customers order  by age"));
        Assert.False(SqlResultComparer.OrderMatters("SELECT name FROM customers WHERE city = 'ORDER BY'"));
    }

    [Fact]
    public void Duplicates_must_count_as_in_a_multiset()
    {
        Assert.False(SqlResultComparer.Equivalent(Rows(R(1), R(1), R(2)), Rows(R(1), R(2), R(2)), false));
        Assert.False(SqlResultComparer.Equivalent(Rows(R(1), R(2)), Rows(R(1), R(1), R(2)), false));
        Assert.True(SqlResultComparer.Equivalent(Rows(R(2), R(1), R(1)), Rows(R(1), R(2), R(1)), false));
    }

    [Fact]
    public void Null_must_equal_null_but_not_zero_or_empty_text()
    {
        Assert.True(SqlResultComparer.Equivalent(Rows(R(null, "x")), Rows(R(null, "x")), false));
        Assert.False(SqlResultComparer.Equivalent(Rows(R((object?)null)), Rows(R(0)), false));
        Assert.False(SqlResultComparer.Equivalent(Rows(R((object?)null)), Rows(R("")), false));
    }

    [Fact]
    public void Integers_and_reals_must_compare_numerically_and_exactly()
    {
        Assert.True(SqlResultComparer.Equivalent(Rows(R(3)), Rows(R(3.0)), false));
        Assert.False(SqlResultComparer.Equivalent(Rows(R(0.3)), Rows(R(0.1 + 0.2)), false));
        Assert.False(SqlResultComparer.Equivalent(Rows(R(1)), Rows(R(1.001)), false));
        Assert.False(SqlResultComparer.Equivalent(Rows(R("3")), Rows(R(3)), false));
    }

    [Fact]
    public void Column_order_and_column_names_must_not_matter_but_column_count_must()
    {
        Assert.True(SameAnswer("SELECT name, age FROM customers", "SELECT name AS n, age AS a FROM customers"));
        Assert.True(SameAnswer("SELECT name, age FROM customers", "SELECT age, name FROM customers"));
        Assert.False(SameAnswer("SELECT name FROM customers", "SELECT name, age FROM customers"));
    }

    [Fact]
    public void Real_queries_with_the_same_answer_must_be_equivalent()
    {
        Assert.True(SameAnswer("SELECT COUNT(*) FROM customers", "SELECT COUNT(id) * 1.0 FROM customers"));
        Assert.True(SameAnswer("SELECT name FROM customers WHERE city = 'Lyon'", "SELECT c.name FROM customers c WHERE 'Lyon' = c.city"));
        Assert.False(SameAnswer("SELECT name FROM customers", "SELECT DISTINCT name FROM customers"));
        Assert.False(SameAnswer("SELECT COUNT(*) FROM customers", "SELECT COUNT(age) FROM customers"));
    }

    [Fact]
    public void A_failed_or_truncated_result_must_never_be_equivalent()
    {
        var failed = SqlExecutionResult.Failure(SqlErrorKind.Syntax, "x", TimeSpan.Zero);
        Assert.False(SqlResultComparer.Equivalent(failed, failed, false));
        var truncated = Rows(R(1)) with { Truncated = true };
        Assert.False(SqlResultComparer.Equivalent(truncated, truncated, false));
    }
}
