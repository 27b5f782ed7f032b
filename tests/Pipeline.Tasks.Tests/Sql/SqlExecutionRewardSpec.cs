using System.Diagnostics;
using Pipeline.Core.Rewards;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

[Collection(SqlTaskCollection.Name)]
public sealed class SqlExecutionRewardSpec(SqlTaskFixture fixture)
{
    const string NeverEnding = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";

    SqlExecutionReward Reward(TimeSpan? timeout = null) => new(fixture.Executor, timeout ?? TimeSpan.FromMilliseconds(300));

    [Fact]
    public void It_must_declare_a_fast_source_named_execution_with_range_zero_to_one()
    {
        var reward = Reward();
        Assert.Equal(("execution", RewardSourceKind.Fast, (0.0, 1.0)), (reward.Name, reward.Kind, reward.Range));
    }

    [Fact]
    public async Task Correct_sql_must_score_one_and_wrong_sql_a_valid_zero_in_rollout_order()
    {
        var example = fixture.Data.Rl.First(e => e.QueryType == SqlQueryTypes.ListFilter);
        var prompt = fixture.Data.ToPrompt(example);
        var group = SqlTaskFixture.Group(prompt,
            example.GoldSql,
            "SELECT 'nobody'",
            "  " + example.GoldSql.Replace("SELECT", "select").Replace("FROM", "from") + " ;\n",
            "SELEC oops",
            $"DELETE FROM {fixture.Data.Schemas[example.DbId].Tables[0]}");

        var signals = await Reward().ScoreAsync(group, CancellationToken.None);

        Assert.Equal(5, signals.Count);
        Assert.All(signals, s => Assert.True(s.Valid));
        Assert.Equal([1.0, 0.0, 1.0, 0.0, 0.0], signals.Select(s => s.Value));
        Assert.Equal("match", signals[0].Details);
        Assert.StartsWith("mismatch", signals[1].Details);
        Assert.StartsWith("Syntax", signals[3].Details);
        Assert.StartsWith("WriteAttempt", signals[4].Details);
        Assert.All(signals, s => Assert.Equal("execution", s.Source));
    }

    [Fact]
    public async Task An_equivalent_but_differently_written_query_must_score_one()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name FROM customers WHERE city = 'Lyon' ORDER BY age DESC LIMIT 2");
        var group = SqlTaskFixture.Group(prompt,
            "select c.name as who from customers c where c.city = 'Lyon' order by c.age desc limit 2;",
            "SELECT name FROM customers WHERE city = 'Lyon' ORDER BY age ASC LIMIT 2");
        var signals = await Reward().ScoreAsync(group, CancellationToken.None);
        Assert.Equal(1.0, signals[0].Value);
        Assert.Equal(0.0, signals[1].Value);
    }

    [Fact]
    public async Task A_predicted_query_that_runs_forever_must_be_a_valid_zero_after_the_timeout()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT COUNT(*) FROM orders");
        var signals = await Reward(TimeSpan.FromMilliseconds(150)).ScoreAsync(SqlTaskFixture.Group(prompt, NeverEnding), CancellationToken.None);
        Assert.True(signals[0].Valid);
        Assert.Equal(0.0, signals[0].Value);
        Assert.StartsWith("Timeout", signals[0].Details);
        Assert.True(signals[0].Latency >= TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public async Task More_rows_than_the_gold_result_must_be_a_valid_zero_decided_at_the_first_extra_row()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name FROM customers ORDER BY id LIMIT 3");
        var reward = Reward();
        var signals = await reward.ScoreAsync(SqlTaskFixture.Group(prompt,
            "SELECT name FROM customers ORDER BY id", "SELECT id, name FROM customers"), CancellationToken.None);

        Assert.All(signals, s => Assert.True(s.Valid));
        Assert.Equal([0.0, 0.0], signals.Select(s => s.Value));
        Assert.Equal("mismatch: more than the expected 3 rows", signals[0].Details);
        Assert.Equal("mismatch: 2 columns, expected 1", signals[1].Details);
        var metrics = new Dictionary<string, double>();
        reward.AddMetrics(metrics);
        Assert.Equal(2, metrics["execution/stopped_early"]);
    }

    [Fact]
    public async Task A_predicted_result_over_the_byte_budget_must_be_an_invalid_signal_counted_as_too_large()
    {
        var reward = new SqlExecutionReward(new SqlExecutor(fixture.Paths, maxResultBytes: 1 << 20), TimeSpan.FromSeconds(5));
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name FROM customers");
        var signals = await reward.ScoreAsync(SqlTaskFixture.Group(prompt,
            "SELECT printf('%.*c', 300000, 'x') FROM customers", "SELECT name FROM customers"), CancellationToken.None);

        Assert.False(signals[0].Valid);
        Assert.StartsWith("TooLarge", signals[0].Details);
        Assert.True(signals[1].Valid);
        Assert.Equal(1.0, signals[1].Value);
        var metrics = new Dictionary<string, double>();
        reward.AddMetrics(metrics);
        Assert.Equal((2.0, 1.0, 0.0), (metrics["execution/queries"], metrics["execution/too_large"], metrics["execution/timeouts"]));
    }

    [Fact]
    public async Task A_gold_result_cut_at_the_row_cap_must_make_every_signal_invalid()
    {
        var reward = new SqlExecutionReward(new SqlExecutor(fixture.Paths, maxRows: 10), TimeSpan.FromSeconds(1));
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name FROM customers");
        var signals = await reward.ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT name FROM customers"), CancellationToken.None);
        Assert.False(signals[0].Valid);
        Assert.Contains("row cap", signals[0].Details);
    }

    [Fact]
    public async Task An_empty_result_of_another_width_must_score_one_against_an_empty_gold_result()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name FROM customers WHERE id < 0");
        var signals = await Reward().ScoreAsync(SqlTaskFixture.Group(prompt,
            "SELECT id, name, city FROM customers WHERE age > 1000", "SELECT id, name FROM customers WHERE id = 1"), CancellationToken.None);
        Assert.Equal([1.0, 0.0], signals.Select(s => s.Value));
    }

    [Fact]
    public async Task Swapped_columns_must_score_one_and_a_sum_off_by_one_in_the_billions_zero()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name, age FROM customers WHERE city IS NOT NULL");
        var signals = await Reward().ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT age, name FROM customers WHERE city IS NOT NULL"),
            CancellationToken.None);
        Assert.Equal(1.0, signals[0].Value);

        var sum = SqlTaskFixture.AdHocPrompt("shop", "SELECT SUM(quantity) * 1000000000 FROM orders");
        signals = await Reward().ScoreAsync(SqlTaskFixture.Group(sum, "SELECT SUM(quantity) * 1000000000 + 1 FROM orders"), CancellationToken.None);
        Assert.True(signals[0].Valid);
        Assert.Equal(0.0, signals[0].Value);
    }

    [Fact]
    public async Task A_relative_tolerance_must_be_honoured_when_configured()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT 0.3");
        var exact = await Reward().ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT 0.1 + 0.2"), CancellationToken.None);
        var tolerant = await new SqlExecutionReward(fixture.Executor, match: new ExecutionMatchOptions(1e-9))
            .ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT 0.1 + 0.2"), CancellationToken.None);
        Assert.Equal((0.0, 1.0), (exact[0].Value, tolerant[0].Value));
    }

    [Theory]
    [InlineData("shop", "SELECT nothing FROM nowhere")]
    [InlineData("shop", "DELETE FROM orders")]
    [InlineData("unknown_db", "SELECT 1")]
    [InlineData("shop", "")]
    public async Task A_broken_gold_query_or_unknown_database_must_make_every_signal_invalid(string db, string gold)
    {
        var prompt = SqlTaskFixture.AdHocPrompt(db, gold);
        var signals = await Reward().ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT 1", "SELECT 2"), CancellationToken.None);
        Assert.Equal(2, signals.Count);
        Assert.All(signals, s =>
        {
            Assert.False(s.Valid);
            Assert.True(double.IsNaN(s.Value));
            Assert.False(string.IsNullOrEmpty(s.Details));
        });
    }

    [Fact]
    public async Task An_already_cancelled_token_must_cancel_scoring()
    {
        var prompt = fixture.Data.ToPrompt(fixture.Data.Sft[0]);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Reward().ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT 1"), cts.Token));
    }

    [Fact]
    public async Task Cancelling_must_interrupt_a_long_predicted_query_promptly()
    {
        var prompt = SqlTaskFixture.AdHocPrompt("library", "SELECT COUNT(*) FROM loans");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Reward(TimeSpan.FromSeconds(30)).ScoreAsync(SqlTaskFixture.Group(prompt, NeverEnding, NeverEnding), cts.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }
}
