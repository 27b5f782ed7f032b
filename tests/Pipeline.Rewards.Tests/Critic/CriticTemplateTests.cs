using System.Text.RegularExpressions;
using Pipeline.Core.Rewards;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Rubrics;
using static Pipeline.Rewards.Tests.Critic.CriticTestKit;
using static Pipeline.Rewards.Tests.Critic.ScriptedJudgeServer;

namespace Pipeline.Rewards.Tests.Critic;

/// <summary>Criteria, pairwise and dense templates end to end through <see cref="LlmCriticReward"/> / <see cref="ICriterionJudge"/>.</summary>
public sealed class CriticTemplateTests
{
    private static readonly JudgeCriterion[] Criteria =
    [
        new("uses-join", "The query joins the tables it needs."),
        new("no-star", "The query does not use SELECT *."),
        new("has-limit", "The query limits the rows."),
    ];

    /// <summary>Answers the ids the prompt asks for: a criterion is met when its id contains "o" (uses-join, no-star).</summary>
    private static Reply CriteriaJudge(Received r)
    {
        var ids = Regex.Matches(r.User, @"""([a-z-]+)"": <true\|false>").Select(m => m.Groups[1].Value).ToList();
        var json = string.Join(", ", ids.Select(id => $"\"{id}\": {(id.Contains('o') ? "true" : "false")}"));
        return Chat($"Checked each criterion.\n{{\"criteria\": {{{json}}}}}");
    }

    [Fact]
    public async Task Criteria_all_in_one_request()
    {
        await using var server = await StartAsync(CriteriaJudge);
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        ICriterionJudge judge = client;
        var met = await judge.JudgeCriteriaAsync("q", "SELECT a FROM t JOIN u", Criteria, CriterionBatching.AllInOne, CancellationToken.None);
        Assert.Equal([true, true, false], met);
        Assert.Equal(1, server.Count);
        Assert.Contains("<criteria-", server.Requests[0].User);
        Assert.Contains("The query limits the rows.", server.Requests[0].User);
    }

    [Fact]
    public async Task Criteria_one_request_per_criterion()
    {
        await using var server = await StartAsync(CriteriaJudge);
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var met = await client.JudgeCriteriaAsync("q", "SELECT a FROM t JOIN u", Criteria, CriterionBatching.OnePerCriterion, CancellationToken.None);
        Assert.Equal([true, true, false], met);
        Assert.Equal(3, server.Count);
        Assert.All(server.Requests, r => Assert.Single(Regex.Matches(r.User, @"<true\|false>")));
    }

    [Fact]
    public async Task A_criteria_answer_missing_a_criterion_gives_no_verdicts_and_a_counted_parse_failure()
    {
        await using var server = await StartAsync(_ => Chat("{\"criteria\": {\"uses-join\": true, \"no-star\": \"yes\"}}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var met = await client.JudgeCriteriaAsync("q", "c", Criteria, CriterionBatching.AllInOne, CancellationToken.None);
        Assert.Equal([null, null, null], met);
        Assert.Equal(1, client.Counters.Failed(CriticFailure.Parse));
    }

    [Fact]
    public async Task Pairwise_win_rate_against_the_rest_of_the_group()
    {
        // The judge prefers the response containing "GOOD"; two bad ones tie.
        await using var server = await StartAsync(r =>
        {
            var a = Section(r.User, "response-a");
            var b = Section(r.User, "response-b");
            var winner = a.Contains("GOOD") == b.Contains("GOOD") ? "tie" : a.Contains("GOOD") ? "A" : "B";
            return Chat($"Compared.\n{{\"winner\": \"{winner}\"}}");
        });
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { Mode = CriticMode.Pairwise });
        var signals = await new LlmCriticReward(client).ScoreAsync(Group("q", "ref", "bad one", "GOOD one", "bad two"), CancellationToken.None);

        Assert.All(signals, s => Assert.True(s.Valid, s.Details));
        Assert.Equal([0.25, 1.0, 0.25], signals.Select(s => s.Value).ToArray());
        Assert.Equal(3, server.Count); // one comparison per pair
        // both orders were used (position-bias alternation)
        Assert.Contains(server.Requests, r => Section(r.User, "response-a").Contains("GOOD"));
        Assert.Contains(server.Requests, r => Section(r.User, "response-b").Contains("GOOD"));
    }

    [Theory]
    [InlineData("{\"winner\": \"A\"}", 1.0)]
    [InlineData("{\"winner\": \"b\"}", 0.0)]
    [InlineData("Both equally wrong. {\"winner\": \"tie\"}", 0.5)]
    public void Pairwise_answers_give_P_A_better(string content, double pa)
        => Assert.Equal(pa, JudgeTemplates.ParsePairwise(new JudgeReply(content, "stop")).Value!.PA);

    [Fact]
    public void A_pairwise_answer_naming_no_valid_winner_is_a_parse_failure()
        => Assert.Equal(CriticFailure.Parse, JudgeTemplates.ParsePairwise(new JudgeReply("{\"winner\": \"C\"}", "stop")).Failure);

    [Fact]
    public async Task Dense_spans_are_mapped_to_character_offsets_of_the_completion()
    {
        await using var server = await StartAsync(_ => Chat(
            "{\"score\": 4, \"spans\": [{\"text\": \"FROM users\", \"reward\": -1}, {\"text\": \"not in the completion\", \"reward\": 1}, " +
            "{\"text\": \"SELECT\", \"reward\": 1}, {\"text\": \"name\", \"reward\": \"bad\"}, {\"text\": \"&lt;candidate-x>\", \"reward\": -0.5}]}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { Dense = true });
        // The last span was copied from the prompt, where the tag look-alike is neutralised: it is restored before the search.
        const string completion = "SELECT name FROM users <candidate-x>";
        var signal = Assert.Single(await new LlmCriticReward(client).ScoreAsync(Group("q", "SELECT id FROM people", completion), CancellationToken.None));

        Assert.True(signal.Valid, signal.Details);
        Assert.Equal(0.4, signal.Value, 9);
        Assert.Contains("\"spans\"", server.Requests[0].User); // the dense template asks for them
        Assert.Equal(
            [new SpanReward(12, 10, -1, "critic"), new SpanReward(0, 6, 1, "critic"), new SpanReward(23, 13, -0.5, "critic")],
            signal.Spans!.ToArray());
    }

    [Fact]
    public async Task Without_dense_no_spans_are_asked_for_or_attached()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 4, \"spans\": [{\"text\": \"a\", \"reward\": 1}]}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var signal = Assert.Single(await new LlmCriticReward(client).ScoreAsync(Group("q", null, "a"), CancellationToken.None));
        Assert.True(signal.Valid);
        Assert.Null(signal.Spans);
        Assert.DoesNotContain("spans", server.Requests[0].User);
    }

    [Fact]
    public async Task The_reference_is_included_only_when_present_and_enabled()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 4}"));
        using (var on = new OpenAiCriticClient(Options(server.BaseUrl)))
        {
            await new LlmCriticReward(on).ScoreAsync(Group("q", "GOLD ANSWER", "a"), CancellationToken.None);
            await new LlmCriticReward(on).ScoreAsync(Group("q", null, "a"), CancellationToken.None);
        }
        using (var off = new OpenAiCriticClient(Options(server.BaseUrl) with { IncludeReference = false }))
            await new LlmCriticReward(off).ScoreAsync(Group("q", "GOLD ANSWER", "a"), CancellationToken.None);
        var users = server.Requests.Select(r => r.User).ToList();
        Assert.Contains("GOLD ANSWER", users[0]);
        Assert.Contains("<reference-", users[0]);
        Assert.DoesNotContain("<reference-", users[1]);
        Assert.DoesNotContain("GOLD ANSWER", users[2]);
    }

    [Fact]
    public async Task Every_rollout_of_a_group_is_scored_concurrently_in_order()
    {
        await using var server = await StartAsync(r =>
        {
            var candidate = Section(r.User, "candidate");
            return Chat($"{{\"score\": {candidate.Length}}}", delay: TimeSpan.FromMilliseconds(300));
        });
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var reward = new LlmCriticReward(client, "judge");
        Assert.Equal(RewardSourceKind.Slow, reward.Kind);
        Assert.Equal((0.0, 1.0), reward.Range);

        var signals = await reward.ScoreAsync(Group("q", null, "a", "bbbb", "cc", "ddddddd"), CancellationToken.None);
        Assert.Equal([0.1, 0.4, 0.2, 0.7], signals.Select(s => Math.Round(s.Value, 9)).ToArray());
        Assert.All(signals, s => Assert.Equal("judge", s.Source));
        Assert.Equal(4, server.MaxConcurrent); // all four were in flight together (each answer takes 300 ms)
    }

    private static string Section(string user, string name)
    {
        var m = Regex.Match(user, $@"<{name}-([0-9a-f]+)>\n(.*?)\n</{name}-\1>", RegexOptions.Singleline);
        return m.Success ? m.Groups[2].Value : "";
    }
}
