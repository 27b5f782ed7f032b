using System.Diagnostics;
using System.Text.Json;
using Pipeline.Rewards.Critic;
using Xunit.Abstractions;
using static Pipeline.Rewards.Tests.Critic.CriticTestKit;
using static Pipeline.Rewards.Tests.Critic.ScriptedJudgeServer;

namespace Pipeline.Rewards.Tests.Critic;

/// <summary>Runs alone (no other test class at the same time), so process-wide allocation deltas measure the call under test.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QuietCollection
{
    public const string Name = "quiet (allocation measurements)";
}

/// <summary>max-response-bytes: a judge answering with huge bodies costs a bounded read and a counted too-large failure.</summary>
[Collection(QuietCollection.Name)]
public sealed class CriticResponseLimitTests(ITestOutputHelper output)
{
    private const int EightMb = 8 * 1024 * 1024;

    /// <summary>A valid chat completion of about <paramref name="bytes"/> bytes: a score, then padding in the message content.</summary>
    private static string HugeCompletion(int bytes)
    {
        var content = "{\"score\": 10} " + new string('x', bytes);
        return JsonSerializer.Serialize(new
        {
            id = "chatcmpl-huge",
            @object = "chat.completion",
            choices = new[] { new { index = 0, message = new { role = "assistant", content }, finish_reason = "stop" } },
        });
    }

    private static async Task<(JudgeOutcome<PointwiseVerdict> Outcome, long Allocated)> MeasuredScoreAsync(OpenAiCriticClient client)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var outcome = await client.ScoreAsync("q", null, "big");
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        return (outcome, allocated);
    }

    [Fact]
    public async Task An_8_MB_streamed_answer_fails_as_too_large_is_not_retried_and_allocates_far_less_than_the_body()
    {
        var huge = HugeCompletion(EightMb); // built before any measurement
        await using var server = await StartAsync(r => r.Index == 0 ? Chat("{\"score\": 5}") : new Reply(200, huge));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { MaxResponseBytes = 1024 * 1024 });
        Assert.True((await client.ScoreAsync("q", null, "warm-up")).Ok); // JIT and connection set-up outside the measurement

        var (outcome, allocated) = await MeasuredScoreAsync(client);
        output.WriteLine($"allocated during the 8 MB call: {allocated / 1024.0 / 1024.0:0.00} MiB");

        Assert.Equal(CriticFailure.TooLarge, outcome.Failure);
        Assert.Contains("ran past max-response-bytes = 1048576", outcome.Detail);
        Assert.True(allocated < 4 * 1024 * 1024, $"the call allocated {allocated:N0} bytes for an {huge.Length:N0}-byte body capped at 1 MiB");
        Assert.Equal(2, server.Count); // warm-up + one attempt: a too-large answer is not retried
        var c = client.Counters;
        Assert.Equal(1, c.Failed(CriticFailure.TooLarge));
        Assert.Equal(1, c.ToMetrics()["critic/failures/too-large"]);
        Assert.Equal(c.Requests, c.Successes + c.FailureTotal);
    }

    [Fact]
    public async Task A_Content_Length_beyond_the_cap_is_refused_before_the_body_is_read()
    {
        var huge = HugeCompletion(EightMb);
        var length = new Dictionary<string, string> { ["Content-Length"] = System.Text.Encoding.UTF8.GetByteCount(huge).ToString() };
        await using var server = await StartAsync(r => r.Index == 0 ? Chat("{\"score\": 5}") : new Reply(200, huge, Headers: length));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { MaxResponseBytes = 1024 * 1024 });
        Assert.True((await client.ScoreAsync("q", null, "warm-up")).Ok);

        var (outcome, allocated) = await MeasuredScoreAsync(client);
        output.WriteLine($"allocated during the refused call: {allocated / 1024.0 / 1024.0:0.00} MiB");

        Assert.Equal(CriticFailure.TooLarge, outcome.Failure);
        Assert.Contains("Content-Length", outcome.Detail);
        Assert.Contains("the body was not read", outcome.Detail);
        Assert.True(allocated < 1024 * 1024, $"refusing by Content-Length allocated {allocated:N0} bytes");
    }

    [Fact]
    public async Task An_answer_under_the_cap_spanning_many_read_chunks_is_decoded_whole()
    {
        // ~300 KB of multi-byte text: several 64 KB chunks, characters split across chunk boundaries.
        var padding = string.Concat(Enumerable.Repeat("é€ü ", 40_000));
        await using var server = await StartAsync(_ => Chat("{\"score\": 7} " + padding));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { MaxResponseBytes = 1024 * 1024 });
        var reward = new LlmCriticReward(client);

        var signal = Assert.Single(await reward.ScoreAsync(Group("q", null, "a"), CancellationToken.None));

        Assert.True(signal.Valid, signal.Details);
        Assert.Equal(0.7, signal.Value, 9);
    }

    [Fact]
    public async Task An_oversized_answer_gives_an_invalid_signal_never_a_zero()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 0} " + new string(' ', 5000)));
        using var client = new OpenAiCriticClient(Options(server.BaseUrl) with { MaxResponseBytes = 4096 });
        var reward = new LlmCriticReward(client);

        var signal = Assert.Single(await reward.ScoreAsync(Group("q", null, "a"), CancellationToken.None));

        Assert.False(signal.Valid);
        Assert.True(double.IsNaN(signal.Value));
        Assert.Contains("too-large", signal.Details);
        var metrics = new Dictionary<string, double>();
        reward.AddMetrics(metrics);
        Assert.Equal(1, metrics["critic/critic/failures/too-large"]);
    }
}
