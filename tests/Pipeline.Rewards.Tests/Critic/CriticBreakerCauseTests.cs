using Pipeline.Rewards.Critic;
using static Pipeline.Rewards.Tests.Critic.CriticTestKit;
using static Pipeline.Rewards.Tests.Critic.ScriptedJudgeServer;

namespace Pipeline.Rewards.Tests.Critic;

/// <summary>When the circuit breaker opens, the failures that opened it keep their own reason and the breaker records its cause.</summary>
public sealed class CriticBreakerCauseTests
{
    private static CriticOptions Breaking(string baseUrl) => Options(baseUrl) with
    {
        MaxRetries = 3,
        BreakerMinimumThroughput = 4,
        BreakerFailureRatio = 0.5,
        BreakerSamplingWindow = TimeSpan.FromSeconds(10),
        BreakerBreakDuration = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task Timeouts_that_open_the_breaker_are_counted_as_timeouts_and_the_breaker_says_it_was_opened_by_timeouts()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 9}", delay: TimeSpan.FromSeconds(3)));
        var log = new LogSink();
        using var client = new OpenAiCriticClient(Breaking(server.BaseUrl) with { Timeout = TimeSpan.FromMilliseconds(200) }, log.Add);

        // Four calls time out together: the fourth failure opens the breaker while every call still has retries left.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => client.ScoreAsync("q", null, $"a{i}")));

        Assert.All(outcomes, o => Assert.Equal(CriticFailure.Timeout, o.Failure));
        Assert.All(outcomes, o => Assert.Contains("circuit breaker then opened", o.Detail));
        var c = client.Counters;
        Assert.Equal("open", c.BreakerState);
        Assert.Equal(4, c.Failed(CriticFailure.Timeout));
        Assert.Equal(0, c.Failed(CriticFailure.BreakerOpen));
        Assert.Contains(log.Lines, l => l.Contains("circuit breaker OPEN") && l.Contains("opened by timeout"));

        // A new call while it is open fails fast, and that one is breaker-open.
        Assert.Equal(CriticFailure.BreakerOpen, (await client.ScoreAsync("q", null, "b")).Failure);
        var metrics = client.Counters.ToMetrics("critic/judge");
        Assert.Equal(4, metrics["critic/judge/failures/timeout"]);
        Assert.Equal(1, metrics["critic/judge/failures/breaker-open"]);
        Assert.Equal(1, metrics["critic/judge/breaker/opened_by/timeout"]);
        Assert.Equal(0, metrics["critic/judge/breaker/opened_by/http-5xx"]);
        Assert.Equal(1, metrics["critic/judge/breaker_openings"]);
        Assert.Contains("1x by timeout", client.Counters.ToString());
    }

    [Fact]
    public async Task Server_errors_that_open_the_breaker_during_retries_are_counted_as_http_5xx()
    {
        await using var server = await StartAsync(_ => Status(503));
        var log = new LogSink();
        using var client = new OpenAiCriticClient(Breaking(server.BaseUrl), log.Add);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => client.ScoreAsync("q", null, $"a{i}")));

        Assert.All(outcomes, o => Assert.Equal(CriticFailure.Http5xx, o.Failure));
        var c = client.Counters;
        Assert.Equal("open", c.BreakerState);
        Assert.Equal(2, c.Failed(CriticFailure.Http5xx));
        Assert.Equal(0, c.Failed(CriticFailure.BreakerOpen));
        Assert.Equal(1, c.BreakerOpenedBy["http-5xx"]);
        Assert.Equal(0, c.BreakerOpenedBy["timeout"]);
        Assert.Contains(log.Lines, l => l.Contains("opened by http-5xx"));
    }
}
