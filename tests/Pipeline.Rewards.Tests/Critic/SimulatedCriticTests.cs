using System.Net.Http.Json;
using System.Text.Json;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Rewards.Rubrics;
using Xunit.Abstractions;
using static Pipeline.Rewards.Tests.Critic.CriticTestKit;

namespace Pipeline.Rewards.Tests.Critic;

public sealed class SimulatedCriticTests(ITestOutputHelper output)
{
    private static SimulatedCriticOptions Local => new() { Urls = "http://127.0.0.1:0" };

    [Fact]
    public async Task The_simulated_judge_answers_the_client_end_to_end_and_says_it_is_simulated()
    {
        var log = new LogSink();
        await using var server = await SimulatedCriticServer.StartAsync(Local, new ExactMatchOracle(), log.Add);
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { Dense = true });

        var signals = await new LlmCriticReward(client).ScoreAsync(
            Group("[shop] [en] How many users?", "SELECT COUNT(*) FROM users", "select count(*)\n  from USERS;", "SELECT COUNT(*) FROM orders"),
            CancellationToken.None);
        Assert.All(signals, s => Assert.True(s.Valid, s.Details));
        Assert.Equal([1.0, 0.0], signals.Select(s => s.Value).ToArray());
        Assert.Equal([new Core.Rewards.SpanReward(0, "select count(*)\n  from USERS;".Length, 1, "critic")], signals[0].Spans!.ToArray());
        Assert.Contains(signals[1].Spans!, s => s.Value < 0 && "SELECT COUNT(*) FROM orders".Substring(s.Start, s.Length) == "orders");

        // The raw HTTP answer: model id, header and content all say simulated.
        using var http = new HttpClient();
        var prompt = JudgeTemplates.Pointwise("q", "SELECT 1", "SELECT 1");
        using var response = await http.PostAsJsonAsync(server.BaseUrl + "/chat/completions", new
        {
            model = "anything",
            messages = new[] { new { role = "system", content = prompt.System }, new { role = "user", content = prompt.User } },
        });
        Assert.True(response.IsSuccessStatusCode);
        Assert.Equal("true", response.Headers.GetValues(SimulatedCriticServer.SimulatedHeader).Single());
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("critic-sim/exact", doc.RootElement.GetProperty("model").GetString());
        var content = doc.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.StartsWith("Simulated judge", content);
        Assert.EndsWith("{\"score\": 10}", content);

        using var models = JsonDocument.Parse(await http.GetStringAsync(server.BaseUrl + "/models"));
        Assert.Equal("critic-sim/exact", models.RootElement.GetProperty("data")[0].GetProperty("id").GetString());

        await server.StopAsync();
        Assert.True(log.Lines.Count >= 2);
        Assert.All(log.Lines, l => Assert.Contains("simulated", l, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task The_simulated_judge_answers_criteria_and_pairwise_templates()
    {
        await using var server = await SimulatedCriticServer.StartAsync(Local);
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));

        var criteria = new[] { new JudgeCriterion("correct", "Returns the right rows."), new JudgeCriterion("tidy", "Is tidy.") };
        var right = await client.JudgeCriteriaAsync("q", "SELECT 1", "select 1", criteria, CriterionBatching.AllInOne, CancellationToken.None);
        var wrong = await client.JudgeCriteriaAsync("q", "SELECT 1", "SELECT 2", criteria, CriterionBatching.OnePerCriterion, CancellationToken.None);
        Assert.Equal([true, true], right);
        Assert.Equal([false, false], wrong);

        var pairwise = new OpenAiCriticClient(Options(server.BaseUrl) with { Mode = CriticMode.Pairwise });
        using var _ = pairwise;
        var signals = await new LlmCriticReward(pairwise).ScoreAsync(Group("q", "SELECT 1", "SELECT 2", "SELECT 1", "SELECT 3"), CancellationToken.None);
        Assert.Equal([0.25, 1.0, 0.25], signals.Select(s => s.Value).ToArray());
    }

    [Fact]
    public async Task Without_ground_truth_the_simulated_judge_declines_and_the_client_counts_a_refusal()
    {
        await using var server = await SimulatedCriticServer.StartAsync(Local);
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var outcome = await client.ScoreAsync("q", reference: null, "SELECT 1");
        Assert.Equal(CriticFailure.Refusal, outcome.Failure);
        Assert.Equal(1, server.Stats.Declined);
    }

    [Fact]
    public void Noise_and_the_declared_scale_shape_the_simulated_score()
    {
        var quiet = new SimulatedJudge(new ExactMatchOracle());
        var noisy = new SimulatedJudge(new ExactMatchOracle(), noise: 0.3, seed: 7);
        var prompt = JudgeTemplates.Pointwise("q", "SELECT 1", "SELECT 1", new ScoreScale(1, 5));
        Assert.EndsWith("{\"score\": 5}", quiet.Answer(prompt.User).Content);
        var scores = Enumerable.Range(0, 200)
            .Select(_ => JudgeTemplates.ParsePointwise(new JudgeReply(noisy.Answer(prompt.User).Content, "stop"), new ScoreScale(1, 5)).Value!.Score)
            .ToList();
        Assert.All(scores, s => Assert.InRange(s, 1, 5));
        Assert.True(scores.Distinct().Count() > 1);
        Assert.InRange(scores.Average(), 3.8, 4.9);
    }

    [Fact]
    public async Task With_error_rate_0_3_over_200_requests_the_client_counters_account_for_every_call()
    {
        await using var server = await SimulatedCriticServer.StartAsync(Local with
        {
            ErrorRate = 0.3,
            RetryAfter = TimeSpan.Zero,
            Seed = 11,
            LatencyDistribution = LatencyDistribution.Uniform,
            Latency = TimeSpan.FromMilliseconds(2),
            LatencySpread = TimeSpan.FromMilliseconds(2),
        });
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with
        {
            Concurrency = 16,
            BreakerMinimumThroughput = 50,
            BreakerFailureRatio = 0.6,
        });

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            client.ScoreAsync("q", "SELECT 1", i % 2 == 0 ? "SELECT 1" : $"SELECT {1000 + i}")));

        var c = client.Counters;
        var s = server.Stats;
        output.WriteLine($"client: {c}");
        output.WriteLine($"server: {s}");
        var valid = outcomes.Count(o => o.Ok);
        var invalid = outcomes.Count(o => !o.Ok);
        Assert.Equal(200, c.Requests);
        Assert.Equal(c.Requests, c.Successes + c.FailureTotal);      // nothing lost
        Assert.Equal(valid, c.Successes);
        Assert.Equal(invalid, c.FailureTotal);
        Assert.Equal(0, c.Cancelled);
        Assert.Equal(c.Requests + c.Retries - c.Failed(CriticFailure.BreakerOpen), c.Attempts);
        Assert.Equal(s.ChatRequests, c.Attempts);                    // every attempt reached the server
        Assert.Equal(s.Answered, c.Successes);
        Assert.Equal(s.Injected429 + s.Injected500, c.Retries + c.Failed(CriticFailure.Http429) + c.Failed(CriticFailure.Http5xx));
        Assert.InRange(s.Injected429 + s.Injected500, 0.2 * s.ChatRequests, 0.4 * s.ChatRequests);
        Assert.True(c.Retries > 30);
        for (var i = 0; i < outcomes.Length; i++)
            if (outcomes[i].Ok) Assert.Equal(i % 2 == 0 ? 10 : 0, outcomes[i].Value!.Score);
    }
}
