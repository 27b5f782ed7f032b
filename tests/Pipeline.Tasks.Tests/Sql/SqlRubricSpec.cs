using System.Collections.Concurrent;
using System.Collections.Immutable;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Rewards.Rubrics;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

/// <summary>
/// The shipped SQL rubric (hocon/rubrics/sql.conf, embedded in Pipeline.Tasks) through the rubric engine with the SQL task's predicates.
/// Without a judge its positive weight is 15: parses 5, read_only 5, known_tables 3, complete 1, concise 1;
/// pitfalls select_star -1 and prose -1; answers_question (essential 5) only counts with a judge.
/// </summary>
[Collection(SqlTaskCollection.Name)]
public sealed class SqlRubricSpec(SqlTaskFixture fixture)
{
    const string AllIds = "parses= read_only= known_tables= complete= concise= select_star= prose= answers_question=";

    RubricRewardSource Source(ICriterionJudge? judge = null)
        => new("rubric", SqlRubricPredicates.LoadRubric(null, SqlRubricPredicates.Create(fixture.Executor)), judge);

    async Task<RubricOutcome> Evaluate(string completion, bool truncated = false, ICriterionJudge? judge = null)
    {
        var prompt = SqlTaskFixture.AdHocPrompt("shop", "SELECT name FROM customers");
        return await Source(judge).EvaluateAsync(new RubricInput(prompt, completion, truncated));
    }

    [Theory]
    [InlineData("SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.city = 'Lyon'", 15)]
    [InlineData("WITH t AS (SELECT name FROM customers) SELECT name FROM t", 15)]
    [InlineData("```sql\nSELECT name FROM customers\n```", 15)]             // the fence is stripped
    [InlineData("SELECT * FROM customers", 14)]                              // everything but the SELECT * pitfall
    [InlineData("SELECT DISTINCT * FROM customers", 14)]
    [InlineData("DELETE FROM customers", 10)]                                // parses, known table, complete, concise; not a read-only select
    [InlineData("UPDATE customers SET name = 'x'", 7)]                       // a write with no FROM: parses, complete, concise
    [InlineData("SELECT name FROM clients", 2)]                              // unknown table: does not even prepare
    [InlineData("SELEC name FRM customers", 2)]                              // garbage: only complete and concise hold
    [InlineData("SELECT 1; SELECT 2", 7)]                                    // the first statement parses, but two statements are no single select
    [InlineData("SELECT * FROM customers; DROP TABLE customers", 9)]         // parses, known, complete, concise, minus SELECT *
    [InlineData("```sql\nSELECT name FROM customers\n```\nThis lists every customer.", 14)] // prose after the fence
    [InlineData("Here it is: ```sql\nSELECT name FROM customers\n```", 1)]  // prose first: nothing parses; complete + concise - prose
    [InlineData("", 0)]
    [InlineData("   ", 0)]
    public async Task Scores_must_follow_the_weighted_criteria(string sql, int points)
    {
        var outcome = await Evaluate(sql);
        Assert.True(outcome.Valid, outcome.Reason);
        Assert.Equal(points / 15.0, outcome.Score, precision: 9);
        foreach (var id in AllIds.Split(' ')) Assert.Contains(id, outcome.Details);
        Assert.EndsWith("answers_question=skipped", outcome.Details);
    }

    [Fact]
    public async Task The_details_must_name_each_criterion_with_its_outcome()
    {
        Assert.Equal("parses=1 read_only=1 known_tables=1 complete=1 concise=1 select_star=1 prose=0 answers_question=skipped",
            (await Evaluate("SELECT * FROM customers")).Details);
        Assert.Equal("parses=1 read_only=0 known_tables=1 complete=1 concise=1 select_star=0 prose=0 answers_question=skipped",
            (await Evaluate("DELETE FROM customers")).Details);
        Assert.Equal("parses=0 read_only=0 known_tables=0 complete=1 concise=1 select_star=0 prose=0 answers_question=skipped",
            (await Evaluate("SELEC name FRM customers")).Details);
    }

    [Fact]
    public async Task A_truncated_completion_must_lose_the_complete_criterion()
    {
        var outcome = await Evaluate("SELECT name FROM customers", truncated: true);
        Assert.Equal(14 / 15.0, outcome.Score, precision: 9);
        Assert.Contains("complete=0", outcome.Details);
    }

    [Fact]
    public async Task A_runaway_completion_must_lose_the_concise_criterion()
    {
        var sql = "SELECT name FROM customers WHERE " + string.Join(" OR ", Enumerable.Repeat("name = 'abcdef'", 80));
        var outcome = await Evaluate(sql);
        Assert.Equal(14 / 15.0, outcome.Score, precision: 9);
        Assert.Contains("parses=1 read_only=1 known_tables=1 complete=1 concise=0", outcome.Details);
    }

    [Fact]
    public async Task Every_gold_query_must_score_one_without_a_judge()
    {
        var source = Source();
        var low = new List<string>();
        foreach (var example in fixture.Data.All)
        {
            var outcome = await source.EvaluateAsync(new RubricInput(fixture.Data.ToPrompt(example), example.GoldSql, false));
            if (!outcome.Valid || outcome.Score != 1.0) low.Add($"{example.GoldSql} -> {outcome}");
        }
        Assert.Empty(low);
    }

    [Fact]
    public async Task Scoring_a_group_must_return_one_valid_signal_per_rollout_and_invalid_for_unknown_db()
    {
        var source = Source();
        Assert.Equal(("rubric", RewardSourceKind.Fast, (0.0, 1.0)), (source.Name, source.Kind, source.Range));
        var prompt = fixture.Data.ToPrompt(fixture.Data.Sft[0]);
        var signals = await source.ScoreAsync(SqlTaskFixture.Group(prompt, prompt.Reference!, "nonsense", ""), CancellationToken.None);
        Assert.Equal(3, signals.Count);
        Assert.Equal(1.0, signals[0].Value);
        Assert.All(signals, s => Assert.True(s.Valid && s.Value is >= 0 and <= 1 && s.Source == "rubric"));

        var unknown = prompt with { Tags = ImmutableDictionary<string, string>.Empty.Add("db", "mars") };
        var invalid = (await source.ScoreAsync(SqlTaskFixture.Group(unknown, "SELECT 1"), CancellationToken.None)).Single();
        Assert.False(invalid.Valid);
        Assert.True(double.IsNaN(invalid.Value));
        Assert.Contains("unknown database 'mars'", invalid.Details);
    }

    [Fact]
    public async Task With_a_judge_the_answers_question_principle_must_count()
    {
        var judge = new FakeSqlJudge(completion => completion.Contains("name") ? true : completion.Contains("city") ? false : null);
        var source = Source(judge);
        Assert.Equal(RewardSourceKind.Slow, source.Kind);
        Assert.Empty(source.SkippedCriteria);

        var right = await Evaluate("SELECT name FROM customers", judge: judge);
        var wrong = await Evaluate("SELECT city FROM customers", judge: judge);
        var unsure = await Evaluate("SELECT id FROM customers", judge: judge);

        Assert.Equal((1.0, "answers_question=1"), (right.Score, right.Details[right.Details.IndexOf("answers_question", StringComparison.Ordinal)..]));
        Assert.Equal(15 / 20.0, wrong.Score, precision: 9);
        Assert.False(unsure.Valid);
        Assert.Equal(CriterionBatching.OnePerCriterion, judge.Batchings.First());
        Assert.Equal(["answers_question"], judge.Criteria.Select(c => c.Id).Distinct());
    }

    [Fact]
    public void The_embedded_rubric_must_be_the_shipped_file()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var shipped = File.ReadAllText(Path.Combine(dir.FullName, "hocon", "rubrics", "sql.conf"));
        Assert.Equal(shipped, SqlRubricPredicates.EmbeddedRubricText());

        var rubric = SqlRubricPredicates.LoadRubric(Path.Combine(dir.FullName, "hocon", "rubrics", "sql.conf"), SqlRubricPredicates.Create(fixture.Executor));
        Assert.Equal("sql", rubric.Name);
        Assert.Equal(["parses", "read_only", "known_tables", "complete", "concise", "select_star", "prose", "answers_question"], rubric.Criteria.Select(c => c.Id));
    }

    [Fact]
    public void The_predicates_must_cover_the_rubric_check_names()
    {
        Assert.Equal(["complete", "known-tables", "read-only", "select-star", "sql-parses"], SqlRubricPredicates.Create(fixture.Executor).Names);
    }

    [Fact]
    public async Task The_task_must_build_its_rubric_source_from_the_shipped_rubric_or_the_configured_file()
    {
        var dir = Path.Combine(fixture.Directory, "task-" + Guid.NewGuid().ToString("N"));
        var options = new SqlDatasetOptions { Seed = 3, TrainCount = 30, HeldOutCount = 6 };
        using var task = new SqlPipelineTask(options, dir, TimeSpan.FromSeconds(1));
        var prompt = task.RlPrompts[0];

        var shipped = Assert.IsType<RubricRewardSource>(task.CreateRewardSource("rubric"));
        Assert.Equal(("rubric", "sql", RewardSourceKind.Fast), (shipped.Name, shipped.Rubric.Name, shipped.Kind));
        var good = (await shipped.ScoreAsync(SqlTaskFixture.Group(prompt, prompt.Reference!), CancellationToken.None)).Single();
        Assert.Equal(1.0, good.Value);

        task.RubricJudge = new FakeSqlJudge(_ => true);
        Assert.Equal(RewardSourceKind.Slow, task.CreateRewardSource("rubric").Kind);

        var custom = Path.Combine(fixture.Directory, "custom-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(custom, """
            { "rubric": { "name": "custom", "criteria": [
              { "id": "ro", "description": "read-only", "kind": "essential", "weight": 5, "check": { "type": "read-only" } },
              { "id": "lim", "description": "has LIMIT", "kind": "important", "weight": 3, "check": { "type": "contains", "value": "LIMIT" } } ] } }
            """);
        using var customTask = new SqlPipelineTask(options, dir, TimeSpan.FromSeconds(1), rubricPath: custom);
        var source = Assert.IsType<RubricRewardSource>(customTask.CreateRewardSource("rubric"));
        Assert.Equal("custom", source.Rubric.Name);
        var signal = (await source.ScoreAsync(SqlTaskFixture.Group(prompt, "SELECT 1"), CancellationToken.None)).Single();
        Assert.Equal((5 / 8.0, "ro=1 lim=0"), (signal.Value, signal.Details));

        using var missing = new SqlPipelineTask(options, dir, TimeSpan.FromSeconds(1), rubricPath: Path.Combine(dir, "nope.conf"));
        Assert.Contains("nope.conf", Assert.Throws<ConfigException>(() => missing.CreateRewardSource("rubric")).Message);
    }

    /// <summary>A stand-in for the LLM critic: answers every criterion from the completion text and records what it was asked.</summary>
    sealed class FakeSqlJudge(Func<string, bool?> answer) : ICriterionJudge
    {
        public ConcurrentQueue<CriterionBatching> Batchings { get; } = new();
        public ConcurrentQueue<JudgeCriterion> Criteria { get; } = new();

        public Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string completion, IReadOnlyList<JudgeCriterion> criteria,
            CriterionBatching batching, CancellationToken cancellationToken)
        {
            Batchings.Enqueue(batching);
            foreach (var c in criteria) Criteria.Enqueue(c);
            return Task.FromResult<IReadOnlyList<bool?>>(criteria.Select(_ => answer(completion)).ToArray());
        }
    }
}
