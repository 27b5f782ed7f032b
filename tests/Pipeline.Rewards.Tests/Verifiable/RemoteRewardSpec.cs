using System.Collections.Immutable;
using System.Text.Json;
using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Tests.Critic;
using Pipeline.Rewards.Verifiable;
using Xunit;

namespace Pipeline.Rewards.Tests.Verifiable;

public sealed class RemoteRewardSpec
{
    private static RolloutGroup Group(int size, string metadata = "{\"lang\":\"en\"}")
    {
        var prompt = new Prompt("p1", "Q: 2+2? A:", "4", ImmutableDictionary<string, string>.Empty.Add(PromptFields.Metadata, metadata));
        return new RolloutGroup("g", prompt, 0,
            Enumerable.Range(0, size).Select(i => new Rollout($"r{i}", "g", "p1", 0, [], [], [], $" {i}", false)).ToImmutableArray(), TimeSpan.Zero);
    }

    private static RemoteReward Source(string url, int maxRetries = 0, int batchSize = 64, string extra = "")
    {
        var settings = ConfigurationFactory.ParseString(
            $"url = \"{url}\"\nmax-retries = {maxRetries}\nretry-base-delay = 5ms\ntimeout = 5s\nbatch-size = {batchSize}\nbreaker-minimum-throughput = 1000\n{extra}");
        return RemoteReward.Create(new RewardSourceContext("remote", "remote", settings, null!, _ => { }));
    }

    /// <summary>An OpenRLHF-style reward server: reward = 1 when the completion's number equals the label.</summary>
    private static ScriptedJudgeServer.Reply Score(ScriptedJudgeServer.Received r)
    {
        using var doc = JsonDocument.Parse(r.Body);
        var labels = doc.RootElement.GetProperty("labels").EnumerateArray().Select(l => l.GetString()).ToList();
        var completions = doc.RootElement.GetProperty("completions").EnumerateArray().Select(c => c.GetString()!.Trim()).ToList();
        var rewards = completions.Select((c, i) => c == labels[i] ? 1.0 : 0.0).ToArray();
        return new ScriptedJudgeServer.Reply(200, JsonSerializer.Serialize(new { rewards }));
    }

    [Fact]
    public async Task Remote_speaks_the_OpenRLHF_protocol_in_batches()
    {
        await using var server = await ScriptedJudgeServer.StartAsync(Score);
        using var source = Source(server.BaseUrl + "/get_reward", batchSize: 3);
        var signals = await source.ScoreAsync(Group(5), CancellationToken.None);

        Assert.Equal([0.0, 0.0, 0.0, 0.0, 1.0], signals.Select(s => s.Value));
        Assert.All(signals, s => Assert.True(s.Valid));
        Assert.Equal(2, server.Count); // 5 completions in chunks of 3
        // The two batches may arrive in either order: the first batch is the one holding three completions.
        using var first = server.Requests.Select(r => JsonDocument.Parse(r.Body))
            .Single(d => d.RootElement.GetProperty("query").GetArrayLength() == 3);
        var root = first.RootElement;
        Assert.Equal("Q: 2+2? A: 0", root.GetProperty("query")[0].GetString());
        Assert.Equal("Q: 2+2? A:", root.GetProperty("prompts")[0].GetString());
        Assert.Equal("4", root.GetProperty("labels")[0].GetString());
        Assert.Equal("en", root.GetProperty("metadata")[0].GetProperty("lang").GetString());
        Assert.Equal(3, root.GetProperty("query").GetArrayLength());
    }

    [Fact]
    public async Task A_server_failing_30_percent_of_calls_loses_nothing_every_fault_is_counted_and_masked_never_zero()
    {
        // Every third-or-so call (30 of 100) answers 500; the rest score every completion 1.
        await using var server = await ScriptedJudgeServer.StartAsync(r => r.Index % 10 < 3
            ? ScriptedJudgeServer.Status(500)
            : new ScriptedJudgeServer.Reply(200, JsonSerializer.Serialize(new { rewards = new[] { 1.0, 1.0 } })));
        using var source = Source(server.BaseUrl + "/get_reward");
        var all = new List<RewardSignal>();
        for (var i = 0; i < 100; i++) all.AddRange(await source.ScoreAsync(Group(2), CancellationToken.None));

        Assert.Equal(200, all.Count);
        Assert.Equal(60, all.Count(s => !s.Valid));
        Assert.All(all.Where(s => !s.Valid), s =>
        {
            Assert.True(double.IsNaN(s.Value));
            Assert.Contains("http-5xx", s.Details);
        });
        Assert.All(all.Where(s => s.Valid), s => Assert.Equal(1.0, s.Value));
        var metrics = new Dictionary<string, double>();
        source.AddMetrics(metrics);
        Assert.Equal(100, metrics["remote/remote/requests"]);
        Assert.Equal(30, metrics["remote/remote/failures/http-5xx"]);
    }

    [Fact]
    public async Task Retries_recover_transient_failures()
    {
        await using var server = await ScriptedJudgeServer.StartAsync(r => r.Index == 0
            ? ScriptedJudgeServer.Status(503)
            : new ScriptedJudgeServer.Reply(200, "{\"rewards\": [0.5]}"));
        using var source = Source(server.BaseUrl + "/get_reward", maxRetries: 2);
        var signals = await source.ScoreAsync(Group(1), CancellationToken.None);
        Assert.True(signals[0].Valid);
        Assert.Equal(0.5, signals[0].Value);
        Assert.Equal(2, server.Count);
    }

    [Fact]
    public async Task Null_wrong_length_or_out_of_range_rewards_are_invalid()
    {
        await using var server = await ScriptedJudgeServer.StartAsync(r => r.Index switch
        {
            0 => new ScriptedJudgeServer.Reply(200, "{\"rewards\": [0.25, null, \"x\"]}"),
            1 => new ScriptedJudgeServer.Reply(200, "{\"rewards\": [1.0]}"),
            2 => new ScriptedJudgeServer.Reply(200, "{\"rewards\": [1.0, 5e9, -2]}"),
            _ => new ScriptedJudgeServer.Reply(200, "<html>oops</html>"),
        });
        using var source = Source(server.BaseUrl + "/get_reward");
        var mixed = await source.ScoreAsync(Group(3), CancellationToken.None);
        Assert.Equal([true, false, false], mixed.Select(s => s.Valid));
        Assert.Equal(0.25, mixed[0].Value);
        var shortReply = await source.ScoreAsync(Group(3), CancellationToken.None);
        Assert.All(shortReply, s => Assert.Contains("1 rewards for 3 queries", s.Details));
        var outOfRange = await source.ScoreAsync(Group(3), CancellationToken.None);
        Assert.Equal([true, false, true], outOfRange.Select(s => s.Valid));
        var garbage = await source.ScoreAsync(Group(3), CancellationToken.None);
        Assert.All(garbage, s => Assert.False(s.Valid));
    }

    [Fact]
    public async Task An_unreachable_service_gives_invalid_signals_naming_the_transport_failure()
    {
        using var source = Source("http://127.0.0.1:1/get_reward");
        var signals = await source.ScoreAsync(Group(2), CancellationToken.None);
        Assert.All(signals, s =>
        {
            Assert.False(s.Valid);
            Assert.Contains("transport", s.Details);
        });
    }

    [Fact]
    public void A_missing_or_bad_url_is_refused_naming_the_key()
    {
        var missing = Assert.Throws<ConfigException>(() => RemoteReward.ReadSettings(ConfigurationFactory.ParseString("url = \"\"")));
        Assert.Contains("pipeline.rewards.remote.url", missing.Message);
        var bad = Assert.Throws<ConfigException>(() => RemoteReward.ReadSettings(ConfigurationFactory.ParseString("url = \"ftp://x\"")));
        Assert.Contains("http(s) URL", bad.Message);
    }
}
