using Pipeline.Tasks.Spider;

namespace Pipeline.Tasks.Tests.Spider;

/// <summary>
/// Labels worked out by hand from Spider's eval_hardness (evaluation.py): component1 = WHERE, GROUP BY, ORDER BY, LIMIT, one per
/// joined table, OR and LIKE; component2 = nested queries; others = more than one aggregation / SELECT column / WHERE condition /
/// GROUP BY column. Each case's comment gives the counts (c1, c2, others).
/// </summary>
public sealed class SpiderHardnessSpec
{
    [Theory]
    // (0, 0, 0): one aggregation is not "more than one".
    [InlineData("SELECT count(*) FROM singer", "easy")]
    // (1, 0, 0)
    [InlineData("SELECT name FROM singer WHERE country = 'France';", "easy")]
    // (1, 0, 0): Spider counts no aggregation inside a HAVING condition.
    [InlineData("SELECT country FROM singer GROUP BY country HAVING count(*) > 1", "easy")]
    // (1, 0, 1): three SELECT columns.
    [InlineData("SELECT name, country, age FROM singer ORDER BY age DESC", "medium")]
    // (1, 0, 2): three aggregations and three columns.
    [InlineData("SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'", "medium")]
    // (2, 0, 1): a join and a GROUP BY; two columns.
    [InlineData("SELECT T2.name, count(*) FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id GROUP BY T1.stadium_id", "medium")]
    // (1, 0, 0) with BETWEEN's AND kept inside its one condition.
    [InlineData("SELECT name FROM singer WHERE age BETWEEN 20 AND 30", "easy")]
    // (1, 1, 0): NOT IN counts once as an aggregation in Spider, which is not more than one.
    [InlineData("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", "hard")]
    // (1, 1, 0)
    [InlineData("SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30", "hard")]
    // (3, 0, 0): WHERE and two joins.
    [InlineData("SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id JOIN concert AS T3 ON T1.concert_id = T3.concert_id WHERE T3.year = 2014", "hard")]
    // (3, 0, 1): WHERE, OR, LIKE; two conditions.
    [InlineData("SELECT name FROM people WHERE name LIKE '%a%' OR age > 30", "hard")]
    // (3, 1, 0)
    [InlineData("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer) ORDER BY age DESC LIMIT 3", "extra")]
    // (5, 0, 1): WHERE, GROUP BY, ORDER BY, LIMIT and a join.
    [InlineData("SELECT T1.name, T1.capacity FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id WHERE T2.year >= 2014 GROUP BY T2.stadium_id ORDER BY count(*) DESC LIMIT 1", "extra")]
    // (1, 2, 0): the UNION's right side and the IN subquery are two nested queries.
    [InlineData("SELECT name FROM a WHERE id IN (SELECT id FROM b) UNION SELECT name FROM c", "extra")]
    public void Gold_queries_get_the_level_Spider_gives_them(string sql, string level)
        => Assert.Equal(level, SpiderHardness.Classify(sql));

    [Fact]
    public void Counts_follow_the_definition_clause_by_clause()
    {
        Assert.Equal(new SpiderComponentCounts(0, 0, 0), SpiderHardness.Count("SELECT count(*) FROM singer"));
        Assert.Equal(new SpiderComponentCounts(2, 0, 1), SpiderHardness.Count(
            "SELECT T2.name, count(*) FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id GROUP BY T1.stadium_id"));
        Assert.Equal(new SpiderComponentCounts(3, 0, 1), SpiderHardness.Count("SELECT name FROM people WHERE name LIKE '%a%' OR age > 30"));
        // Aggregations: two in SELECT and one in ORDER BY make more than one; two GROUP BY columns and two WHERE conditions count too.
        Assert.Equal(new SpiderComponentCounts(3, 0, 4), SpiderHardness.Count(
            "SELECT a, max(b), min(b) FROM t WHERE c = 1 AND d = 2 GROUP BY a, e ORDER BY count(*)"));
        // A subquery in FROM is a table, not a nested query; an aggregation inside a subquery is not the outer query's.
        Assert.Equal(new SpiderComponentCounts(1, 0, 0), SpiderHardness.Count("SELECT x FROM (SELECT max(a) AS x, min(a) FROM t) AS s, u"));
    }

    [Fact]
    public void Words_inside_string_literals_count_for_nothing()
        => Assert.Equal(SpiderHardness.Easy, SpiderHardness.Classify("SELECT name FROM t WHERE note = 'join or like, group by (select)'"));

    [Theory]
    [InlineData("")]
    [InlineData("SELECT")]
    [InlineData("SELECT ( FROM WHERE")]
    [InlineData("WITH x AS (SELECT 1")]
    public void Malformed_text_gets_a_level_and_never_throws(string sql)
        => Assert.Contains(SpiderHardness.Classify(sql), SpiderHardness.Levels);

    [Fact]
    public void Each_common_table_expression_counts_as_a_nested_query()
        => Assert.Equal(new SpiderComponentCounts(1, 2, 0), SpiderHardness.Count(
            "WITH a AS (SELECT id FROM t), b (id) AS (SELECT id FROM u) SELECT id FROM a WHERE id > 2"));
}
