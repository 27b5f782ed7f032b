using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

[Collection(SqlTaskCollection.Name)]
public sealed class SqlRubricRewardSpec(SqlTaskFixture fixture)
{
    SqlRubricReward Rubric => new(fixture.Executor);

    [Theory]
    [InlineData("SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.city = 'Lyon'", 9)]
    [InlineData("WITH t AS (SELECT name FROM customers) SELECT name FROM t", 9)]
    [InlineData("SELECT * FROM customers", 8)]          // everything but the SELECT * pitfall
    [InlineData("DELETE FROM customers", 6)]            // parses, known table, complete; not a read-only select
    [InlineData("SELECT name FROM clients", 1)]         // unknown table: does not even prepare
    [InlineData("SELEC name FRM customers", 1)]         // only "complete" holds
    [InlineData("SELECT 1; SELECT 2", 4)]               // the first statement parses, but two statements are no single select
    public void Scores_must_follow_the_weighted_criteria(string sql, int points)
    {
        var (score, details) = Rubric.Evaluate("shop", sql, truncated: false);
        Assert.Equal(points / 9.0, score, precision: 9);
        foreach (var c in SqlRubricReward.Criteria) Assert.Contains(c.Name + "=", details);
    }

    [Fact]
    public void A_truncated_completion_must_lose_the_complete_criterion()
    {
        var (score, details) = Rubric.Evaluate("shop", "SELECT name FROM customers", truncated: true);
        Assert.Equal(8 / 9.0, score, precision: 9);
        Assert.Contains("complete=0", details);
    }

    [Fact]
    public async Task Scoring_a_group_must_return_one_valid_signal_per_rollout_and_invalid_for_unknown_db()
    {
        var prompt = fixture.Data.ToPrompt(fixture.Data.Sft[0]);
        var signals = await Rubric.ScoreAsync(SqlTaskFixture.Group(prompt, prompt.Reference!, "nonsense", ""), CancellationToken.None);
        Assert.Equal(3, signals.Count);
        Assert.Equal(1.0, signals[0].Value);
        Assert.All(signals, s => Assert.True(s.Valid && s.Value is >= 0 and <= 1 && s.Source == "rubric"));

        var unknown = prompt with { Tags = ImmutableDictionary<string, string>.Empty.Add("db", "mars") };
        var invalid = await Rubric.ScoreAsync(SqlTaskFixture.Group(unknown, "SELECT 1"), CancellationToken.None);
        Assert.False(invalid.Single().Valid);
    }
}
