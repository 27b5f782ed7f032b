using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

[Collection(SqlTaskCollection.Name)]
public sealed class SqlTaskEvaluatorSpec(SqlTaskFixture fixture)
{
    [Fact]
    public void Gold_predictions_must_score_full_execution_and_exact_match_in_every_language()
    {
        var examples = fixture.Data.HeldOut.Take(200).ToList();
        var report = new SqlTaskEvaluator(fixture.Executor).Evaluate(examples.Select(e => (e, e.GoldSql)));
        Assert.Equal((200, 1.0, 1.0), report.Overall);
        Assert.Equal(["de", "en", "es", "ru"], report.PerLanguage.Keys.Order());
        Assert.All(report.PerLanguage.Values, v => Assert.Equal((1.0, 1.0), (v.ExecAcc, v.ExactMatch)));
    }

    [Fact]
    public void Equivalent_rewrites_must_count_for_execution_but_not_exact_match_and_garbage_for_neither()
    {
        var counts = fixture.Data.HeldOut.Where(e => e.QueryType == SqlQueryTypes.CountFilter).Take(4).ToList();
        var predictions = new List<(SqlExample, string)>
        {
            (counts[0], counts[0].GoldSql.Replace("COUNT(*)", "COUNT(id)")),
            (counts[1], counts[1].GoldSql.Replace("SELECT", "select").Replace(" WHERE ", "\n  where  ") + ";"),
            (counts[2], "SELECT 42"),
            (counts[3], "DROP TABLE customers"),
        };
        var report = new SqlTaskEvaluator(fixture.Executor).Evaluate(predictions);
        Assert.Equal(4, report.Overall.Count);
        Assert.Equal(0.5, report.Overall.ExecAcc);
        Assert.Equal(0.25, report.Overall.ExactMatch);
        Assert.Contains("all: n=4", report.ToString());
    }

    [Fact]
    public void A_gold_result_past_the_row_cap_must_be_counted_invalid_and_left_out_of_execution_accuracy()
    {
        var capped = new SqlExecutor(fixture.Paths, maxRows: 5);
        var small = fixture.Data.HeldOut.First(e => e.QueryType == SqlQueryTypes.CountFilter);
        var big = small with { Id = "all-customers", GoldSql = "SELECT name FROM customers" };
        var report = new SqlTaskEvaluator(capped).Evaluate([(small, small.GoldSql), (big, big.GoldSql)]);
        Assert.Equal(1, report.Invalid);
        Assert.Equal((2, 1.0, 1.0), report.Overall);
        Assert.Contains("invalid=1", report.ToString());
    }

    [Fact]
    public void A_prediction_must_match_on_every_instance_of_its_database()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pipeline-sql-instances-" + Guid.NewGuid().ToString("N"));
        try
        {
            var executor = new SqlExecutor(SqlDatabases.Create(fixture.Data, dir, seed: 7, instances: 2));
            Assert.Equal(["shop", "shop#2"], executor.InstancesOf("shop"));
            var example = fixture.Data.HeldOut.First(e => e.DbId == "shop") with { GoldSql = "SELECT COUNT(*) FROM customers WHERE age > 40" };
            var onFirst = executor.Execute("shop", example.GoldSql, TimeSpan.FromSeconds(1)).Rows[0][0];
            var onSecond = executor.Execute("shop#2", example.GoldSql, TimeSpan.FromSeconds(1)).Rows[0][0];
            Assert.NotEqual(onFirst, onSecond);

            var report = new SqlTaskEvaluator(executor).Evaluate([
                (example, "SELECT COUNT(age) FROM customers WHERE age >= 41"),
                (example with { Id = "literal" }, $"SELECT {onFirst}"),
            ]);
            Assert.Equal(0.5, report.Overall.ExecAcc);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
