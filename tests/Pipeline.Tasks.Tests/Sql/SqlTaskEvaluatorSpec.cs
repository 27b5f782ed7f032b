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
}
