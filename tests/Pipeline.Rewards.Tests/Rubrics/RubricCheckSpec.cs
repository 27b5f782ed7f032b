using Pipeline.Rewards.Rubrics;

namespace Pipeline.Rewards.Tests.Rubrics;

/// <summary>Every check type, loaded from a rubric file, on a completion that meets it and one that does not.</summary>
public sealed class RubricCheckSpec : IDisposable
{
    readonly RubricTestKit _kit = new();

    static readonly RubricPredicateRegistry Predicates = new RubricPredicateRegistry()
        .Register("sql-parses", i => i.Completion.StartsWith("SELECT", StringComparison.Ordinal))
        .Register("read-only", i => !i.Completion.Contains("DELETE", StringComparison.Ordinal))
        .Register("not-truncated", i => !i.Truncated)
        .Register("mentions-prompt", i => i.Completion.Contains(i.Prompt.Text, StringComparison.Ordinal));

    async Task<bool?> Met(string check, string completion, bool truncated = false)
    {
        var path = _kit.Hocon($"id = c, description = \"under test\", kind = essential, weight = 5, check = {check}");
        var source = RubricRewardSource.Load("rubric", path, Predicates);
        var outcome = await source.EvaluateAsync(RubricTestKit.Input(completion, truncated));
        Assert.True(outcome.Valid, outcome.Reason);
        Assert.Equal(outcome.Criteria[0].Met == true ? 1.0 : 0.0, outcome.Score);
        return outcome.Criteria[0].Met;
    }

    [Theory]
    [InlineData("{ type = regex, pattern = \"^SELECT\\\\b\" }", "SELECT 1", true)]
    [InlineData("{ type = regex, pattern = \"^SELECT\\\\b\" }", "select 1", false)]
    [InlineData("{ type = regex, pattern = \"^SELECT\\\\b\", flags = [ignore-case] }", "select 1", true)]
    [InlineData("{ type = regex, pattern = \"^SELECT\\\\b\", flags = \"ignore-case must-match\" }", "select 1", true)]
    [InlineData("{ type = regex, pattern = \"DROP\", flags = [must-not-match] }", "SELECT 1", true)]
    [InlineData("{ type = regex, pattern = \"DROP\", flags = [must-not-match] }", "DROP TABLE t", false)]
    [InlineData("{ type = regex, pattern = \"^b$\", flags = [multiline] }", "a\nb\nc", true)]
    [InlineData("{ type = regex, pattern = \"^b$\" }", "a\nb\nc", false)]
    [InlineData("{ type = regex, pattern = \"\"\"\\d+\"\"\" }", "LIMIT 5", true)]
    [InlineData("{ type = regex, pattern = \"\"\"\\d+\"\"\" }", "LIMIT n", false)]
    public async Task Regex_checks_must_match_or_not_as_flagged(string check, string completion, bool expected)
        => Assert.Equal(expected, await Met(check, completion));

    [Theory]
    [InlineData("{ type = contains, value = \"ORDER BY\" }", "SELECT a FROM t ORDER BY a", true)]
    [InlineData("{ type = contains, value = \"ORDER BY\" }", "SELECT a FROM t order by a", false)]
    [InlineData("{ type = contains, value = \"ORDER BY\", ignore-case = true }", "SELECT a FROM t order by a", true)]
    [InlineData("{ type = contains, value = [\"FROM\", \"LIMIT\"] }", "SELECT a FROM t LIMIT 2", true)]
    [InlineData("{ type = contains, value = [\"FROM\", \"LIMIT\"] }", "SELECT a FROM t", false)]
    [InlineData("{ type = contains, value = \"1.50\" }", "price > 1.50", true)]
    [InlineData("{ type = excludes, value = [\"DROP\", \"DELETE\"] }", "SELECT a FROM t", true)]
    [InlineData("{ type = excludes, value = [\"DROP\", \"DELETE\"] }", "DELETE FROM t", false)]
    [InlineData("{ type = excludes, value = drop, ignore-case = on }", "DROP TABLE t", false)]
    [InlineData("{ type = excludes, value = drop }", "DROP TABLE t", true)]
    public async Task Contains_and_excludes_checks_must_look_for_every_value(string check, string completion, bool expected)
        => Assert.Equal(expected, await Met(check, completion));

    [Theory]
    [InlineData("{ type = length, min-chars = 3, max-chars = 8 }", "  abc  ", true)]
    [InlineData("{ type = length, min-chars = 3, max-chars = 8 }", "ab", false)]
    [InlineData("{ type = length, min-chars = 3, max-chars = 8 }", "abcdefghi", false)]
    [InlineData("{ type = length, max-tokens = 3 }", "SELECT a FROM", true)]
    [InlineData("{ type = length, max-tokens = 3 }", "SELECT a\n FROM   t", false)]
    [InlineData("{ type = length, min-tokens = 2, max-chars = 100 }", "SELECT", false)]
    public async Task Length_checks_must_count_characters_and_whitespace_tokens(string check, string completion, bool expected)
        => Assert.Equal(expected, await Met(check, completion));

    const string AnswerSchema = "{ type = object, required = [answer], properties { answer = { type = string }, n = { type = integer, minimum = 1 } } }";

    [Theory]
    [InlineData("{\"answer\": \"42\"}", true)]
    [InlineData("{\"answer\": \"42\", \"n\": 3}", true)]
    [InlineData("{\"answer\": 42}", false)]
    [InlineData("{\"answer\": \"x\", \"n\": 0}", false)]
    [InlineData("{\"n\": 2}", false)]
    [InlineData("Here you go:\n```json\n{\"answer\": \"yes\"}\n```\nHope it helps.", true)]
    [InlineData("The result is {\"answer\": \"yes\"} as requested", true)]
    [InlineData("no json here", false)]
    [InlineData("", false)]
    public async Task Json_schema_checks_must_validate_the_json_in_the_completion(string completion, bool expected)
        => Assert.Equal(expected, await Met($"{{ type = json-schema, schema = {AnswerSchema} }}", completion));

    [Fact]
    public async Task Json_schema_checks_must_accept_schema_text_and_a_schema_file_relative_to_the_rubric()
    {
        System.IO.Directory.CreateDirectory(Path.Combine(_kit.Directory, "schemas"));
        _kit.Write("schemas/answer.json", """{ "type": "object", "required": ["answer"], "properties": { "answer": { "const": "5" } } }""");
        const string file = "{ type = json-schema, schema-file = \"schemas/answer.json\" }";
        Assert.True(await Met(file, "{\"answer\": \"5\"}"));
        Assert.False(await Met(file, "{\"answer\": 5}"));

        const string text = "{ type = json-schema, schema = \"\"\"{\"type\": \"array\", \"minItems\": 2}\"\"\" }";
        Assert.True(await Met(text, "[1, 2]"));
        Assert.False(await Met(text, "[1]"));
    }

    [Theory]
    [InlineData("{ type = sql-parses }", "SELECT 1", true)]
    [InlineData("{ type = sql-parses }", "SELEC 1", false)]
    [InlineData("{ type = read-only }", "SELECT 1", true)]
    [InlineData("{ type = read-only }", "DELETE FROM t", false)]
    [InlineData("{ type = predicate, name = mentions-prompt }", "about question? indeed", true)]
    [InlineData("{ type = predicate, name = mentions-prompt }", "something else", false)]
    public async Task Predicate_checks_must_call_the_registered_predicate(string check, string completion, bool expected)
        => Assert.Equal(expected, await Met(check, completion));

    [Fact]
    public async Task Predicates_must_see_whether_the_rollout_was_truncated()
    {
        Assert.True(await Met("{ type = predicate, name = not-truncated }", "x", truncated: false));
        Assert.False(await Met("{ type = predicate, name = not-truncated }", "x", truncated: true));
    }

    [Fact]
    public async Task Principle_checks_must_be_answered_by_the_judge_with_the_prompt_completion_and_wording()
    {
        var path = _kit.Hocon("id = helpful, description = d, kind = important, weight = 4, check = { type = principle, text = \"Is it helpful?\" }");
        var judge = new FakeCriterionJudge((completion, _) => completion == "good");
        var source = RubricRewardSource.Load("rubric", path, Predicates, judge);

        var good = await source.EvaluateAsync(RubricTestKit.Input("good"));
        var bad = await source.EvaluateAsync(RubricTestKit.Input("bad"));

        Assert.Equal((1.0, "helpful=1"), (good.Score, good.Details));
        Assert.Equal((0.0, "helpful=0"), (bad.Score, bad.Details));
        var call = judge.Calls.First();
        Assert.Equal(("question?", "good"), (call.Prompt, call.Completion));
        Assert.Equal([new JudgeCriterion("helpful", "Is it helpful?")], call.Criteria);
    }

    public void Dispose() => _kit.Dispose();
}
