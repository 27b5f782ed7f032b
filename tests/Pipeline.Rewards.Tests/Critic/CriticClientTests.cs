using System.Diagnostics;
using Pipeline.Rewards.Critic;
using static Pipeline.Rewards.Tests.Critic.CriticTestKit;
using static Pipeline.Rewards.Tests.Critic.ScriptedJudgeServer;

namespace Pipeline.Rewards.Tests.Critic;

/// <summary>Resilience, limits, cache and key handling of <see cref="OpenAiCriticClient"/> against real scripted HTTP servers.</summary>
public sealed class CriticClientTests
{
    [Fact]
    public async Task Latency_beyond_the_timeout_gives_an_invalid_signal_and_counts_a_timeout()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 9}", delay: TimeSpan.FromSeconds(3)));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { Timeout = TimeSpan.FromMilliseconds(200), MaxRetries = 1 });
        var reward = new LlmCriticReward(client);

        var clock = Stopwatch.StartNew();
        var signals = await reward.ScoreAsync(Group("q", "SELECT 1", "SELECT 1"), CancellationToken.None);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"took {clock.Elapsed}");
        var signal = Assert.Single(signals);
        Assert.False(signal.Valid);
        Assert.True(double.IsNaN(signal.Value));
        Assert.Contains("timeout", signal.Details);
        var c = client.Counters;
        Assert.Equal(1, c.Failed(CriticFailure.Timeout));
        var metrics = new Dictionary<string, double>();
        reward.AddMetrics(metrics); // IReportsMetrics: the learner adds these to every step
        Assert.Equal(1, metrics["critic/critic/failures/timeout"]);
        Assert.Equal(1, metrics["critic/critic/retries"]);
        Assert.Equal(0, metrics["critic/critic/failures/parse"]);
        Assert.Equal(1, c.Retries); // timeouts are retried
        Assert.Equal(2, c.Attempts);
        Assert.Equal(2, server.Count);
        Assert.Equal(c.Requests, c.Successes + c.FailureTotal + c.Cancelled);
    }

    [Fact]
    public async Task A_429_then_success_is_retried_once_after_the_Retry_After_delay()
    {
        await using var server = await StartAsync(r => r.Index == 0
            ? Status(429, headers: new Dictionary<string, string> { ["Retry-After"] = "1" })
            : Chat("Fine. {\"score\": 7}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));

        var outcome = await client.ScoreAsync("q", null, "a");

        Assert.True(outcome.Ok, outcome.Detail);
        Assert.Equal(0.7, outcome.Value!.Normalised, 9);
        Assert.Equal(1, client.Counters.Retries);
        Assert.Equal(0, client.Counters.FailureTotal);
        var gap = server.Requests[1].At - server.Requests[0].At;
        Assert.True(gap >= TimeSpan.FromMilliseconds(900), $"retried after {gap.TotalMilliseconds:0} ms, Retry-After said 1 s (backoff alone is ~5 ms)");
    }

    [Fact]
    public async Task Four_500s_give_an_invalid_signal_after_exactly_three_retries()
    {
        await using var server = await StartAsync(_ => Status(500));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var signals = await new LlmCriticReward(client).ScoreAsync(Group("q", null, "a"), CancellationToken.None);

        Assert.False(Assert.Single(signals).Valid);
        Assert.Contains("http-5xx", signals[0].Details);
        Assert.Equal(4, server.Count);
        var c = client.Counters;
        Assert.Equal(3, c.Retries);
        Assert.Equal(4, c.Attempts);
        Assert.Equal(1, c.Failed(CriticFailure.Http5xx));
        Assert.Equal(1, c.Requests);
    }

    [Fact]
    public async Task A_4xx_other_than_429_is_not_retried()
    {
        await using var server = await StartAsync(_ => Status(400));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        var outcome = await client.ScoreAsync("q", null, "a");
        Assert.Equal(CriticFailure.Http4xx, outcome.Failure);
        Assert.Equal(1, server.Count);
    }

    [Fact]
    public async Task A_refused_connection_is_a_counted_transport_failure()
    {
        // A port that was just free: nothing listens there.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var client = new OpenAiCriticClient(Options($"http://127.0.0.1:{port}/v1") with { MaxRetries = 1 });
        var outcome = await client.ScoreAsync("q", null, "a");
        Assert.Equal(CriticFailure.Transport, outcome.Failure);
        Assert.Equal(1, client.Counters.Retries);
    }

    [Fact]
    public async Task The_circuit_breaker_opens_on_sustained_failures_fails_fast_says_so_and_closes_after_the_break()
    {
        var healthy = false;
        await using var server = await StartAsync(_ => Volatile.Read(ref healthy) ? Chat("{\"score\": 5}") : Status(503));
        var log = new LogSink();
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with
        {
            MaxRetries = 0,
            BreakerMinimumThroughput = 4,
            BreakerFailureRatio = 0.5,
            BreakerSamplingWindow = TimeSpan.FromSeconds(10),
            BreakerBreakDuration = TimeSpan.FromSeconds(1),
        }, log.Add);

        for (var i = 0; i < 4; i++)
            Assert.Equal(CriticFailure.Http5xx, (await client.ScoreAsync("q", null, $"a{i}")).Failure);
        Assert.Equal("open", client.Counters.BreakerState);
        Assert.Contains(log.Lines, l => l.Contains("circuit breaker OPEN"));

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++)
            Assert.Equal(CriticFailure.BreakerOpen, (await client.ScoreAsync("q", null, $"b{i}")).Failure);
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(500), $"fail-fast took {clock.Elapsed}");
        Assert.Equal(4, server.Count); // no request went out while open
        Assert.Contains(log.Lines, l => l.Contains("failing judge calls fast"));
        var open = client.Counters;
        Assert.Equal(5, open.Failed(CriticFailure.BreakerOpen));
        Assert.Equal(1, open.BreakerOpenings);

        Volatile.Write(ref healthy, true);
        await Task.Delay(TimeSpan.FromMilliseconds(1200));
        var probe = await client.ScoreAsync("q", null, "c");
        Assert.True(probe.Ok, probe.Detail);
        Assert.Equal("closed", client.Counters.BreakerState);
        Assert.Contains(log.Lines, l => l.Contains("half-open"));
        Assert.Contains(log.Lines, l => l.Contains("closed"));
        Assert.True((await client.ScoreAsync("q", null, "d")).Ok);
        var c = client.Counters;
        Assert.Equal(c.Requests, c.Successes + c.FailureTotal);
        Assert.Equal(c.Requests + c.Retries - c.Failed(CriticFailure.BreakerOpen), c.Attempts);
    }

    [Fact]
    public async Task The_concurrency_limit_bounds_requests_in_flight()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 5}", delay: TimeSpan.FromMilliseconds(150)));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { Concurrency = 3 });

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => client.ScoreAsync("q", null, $"a{i}")));

        Assert.All(outcomes, o => Assert.True(o.Ok, o.Detail));
        Assert.Equal(12, server.Count);
        Assert.Equal(3, server.MaxConcurrent);
    }

    [Fact]
    public async Task The_requests_per_minute_bucket_delays_requests_beyond_the_burst()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 5}"));
        // 120/min: a bucket of 2, one more token every 0.5 s.
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { RequestsPerMinute = 120 });

        var clock = Stopwatch.StartNew();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => client.ScoreAsync("q", null, $"a{i}")));

        Assert.All(outcomes, o => Assert.True(o.Ok, o.Detail));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.4), $"6 requests at 120/min (burst 2) took only {clock.Elapsed}");
        var arrivals = server.Requests.Select(r => r.At).ToList();
        Assert.True(arrivals[^1] - arrivals[0] >= TimeSpan.FromSeconds(1.4));
    }

    [Fact]
    public async Task The_tokens_per_minute_bucket_delays_requests()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 5}"));
        // 6000 tokens/min = 100/s, bucket 100; every request estimates >= max-tokens 100, i.e. takes the whole bucket: ~1 request/s.
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { TokensPerMinute = 6000, MaxTokens = 100 });

        var clock = Stopwatch.StartNew();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => client.ScoreAsync("q", null, $"a{i}")));

        Assert.All(outcomes, o => Assert.True(o.Ok, o.Detail));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.7), $"3 requests of >= 100 tokens at 6000/min took only {clock.Elapsed}");
    }

    [Fact]
    public async Task A_repeated_template_prompt_completion_is_answered_from_the_cache()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 6}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { CacheEntries = 2 });

        var first = await client.ScoreAsync("q", "ref", "same");
        var second = await client.ScoreAsync("q", "ref", "same");
        Assert.True(first.Ok && second.Ok);
        Assert.False(first.Cached);
        Assert.True(second.Cached);
        Assert.Equal(first.Value!.Score, second.Value!.Score);
        Assert.Equal(1, server.Count);

        await client.ScoreAsync("q", "ref", "other");                          // another completion
        await client.ScoreAsync("q2", "ref", "same");                          // another prompt
        await client.ScoreAsync("q", "ref", "same", new ScoreScale(1, 5), false); // another template (scale)
        Assert.Equal(4, server.Count);
        var c = client.Counters;
        Assert.Equal(1, c.CacheHits);
        Assert.Equal(4, c.CacheMisses);
        Assert.Equal(4, c.Requests);
    }

    [Fact]
    public async Task Failures_are_not_cached()
    {
        await using var server = await StartAsync(r => r.Index == 0 ? Chat("no json here") : Chat("{\"score\": 4}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { CacheEntries = 10 });
        Assert.Equal(CriticFailure.Parse, (await client.ScoreAsync("q", null, "a")).Failure);
        Assert.True((await client.ScoreAsync("q", null, "a")).Ok);
        Assert.Equal(2, server.Count);
    }

    [Fact]
    public async Task The_API_key_is_sent_as_Bearer_from_the_environment_and_appears_nowhere_else()
    {
        var variable = "PIPELINE_TEST_CRITIC_KEY_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var key = "sk-canary-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, key);
        try
        {
            // The server echoes the Authorization header into its error bodies: the client must not pass it on.
            await using var server = await StartAsync(r => r.Index == 0
                ? Chat("{\"score\": 8}")
                : Status(500, $"{{\"error\": \"bad key {r.Authorization}\"}}"));
            var log = new CriticTestKit.LogSink();
            var options = Options(server.BaseUrl) with { ApiKeyEnv = variable, MaxRetries = 0, BreakerMinimumThroughput = 2, BreakerBreakDuration = TimeSpan.FromSeconds(5) };
            using var client = new OpenAiCriticClient(options, log.Add);

            var ok = await client.ScoreAsync("q", null, "a");
            Assert.True(ok.Ok, ok.Detail);
            Assert.Equal("Bearer " + key, server.Requests[0].Authorization);
            var failures = new List<string?>();
            for (var i = 0; i < 4; i++) failures.Add((await client.ScoreAsync("q", null, $"b{i}")).Detail);
            var signals = await new LlmCriticReward(client).ScoreAsync(Group("q", null, "c"), CancellationToken.None);

            Assert.Contains(failures, d => d!.Contains("bad key Bearer ***"));
            Assert.NotEmpty(log.Lines); // the breaker opened and said so
            var everywhere = string.Join("\n", new[]
            {
                options.ToString(), client.ToString(), client.Counters.ToString(), string.Join(",", client.Counters.ToMetrics().Keys),
                string.Join(",", client.Counters.Failures.Keys), log.All, string.Join("\n", failures), signals[0].ToString(),
            });
            Assert.DoesNotContain(key, everywhere);
            Assert.DoesNotContain(key[3..], everywhere);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task Without_a_key_variable_no_Authorization_header_is_sent()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 8}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { ApiKeyEnv = "PIPELINE_TEST_CRITIC_UNSET_" + Guid.NewGuid().ToString("N") });
        Assert.True((await client.ScoreAsync("q", null, "a")).Ok);
        Assert.Null(server.Requests[0].Authorization);
    }

    [Fact]
    public async Task The_request_is_an_OpenAI_chat_completion_with_the_configured_fields()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 8}"));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { Model = "m-x", MaxTokens = 77, Temperature = 0.25, JsonResponseFormat = true });
        Assert.True((await client.ScoreAsync("q", null, "a")).Ok);
        using var doc = System.Text.Json.JsonDocument.Parse(server.Requests[0].Body);
        var root = doc.RootElement;
        Assert.Equal("m-x", root.GetProperty("model").GetString());
        Assert.Equal(77, root.GetProperty("max_tokens").GetInt32());
        Assert.Equal(0.25, root.GetProperty("temperature").GetDouble());
        Assert.Equal("json_object", root.GetProperty("response_format").GetProperty("type").GetString());
        Assert.Equal(["system", "user"], root.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString()!).ToArray());

        using var plain = new OpenAiCriticClient(Options(server.BaseUrl));
        Assert.True((await plain.ScoreAsync("q", null, "a")).Ok);
        using var doc2 = System.Text.Json.JsonDocument.Parse(server.Requests[1].Body);
        Assert.False(doc2.RootElement.TryGetProperty("response_format", out _));
        Assert.Equal(0, doc2.RootElement.GetProperty("temperature").GetDouble());
    }

    [Fact]
    public async Task Cancellation_propagates_to_the_caller_and_is_counted()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 8}", delay: TimeSpan.FromSeconds(5)));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => new LlmCriticReward(client).ScoreAsync(Group("q", null, "a", "b"), cts.Token));
        var c = client.Counters;
        Assert.Equal(2, c.Cancelled);
        Assert.Equal(0, c.FailureTotal);
        Assert.Equal(0, c.Retries);
    }
}
