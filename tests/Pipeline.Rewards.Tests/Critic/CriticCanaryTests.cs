using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Critic.Simulated;
using static Pipeline.Rewards.Tests.Critic.CriticTestKit;
using static Pipeline.Rewards.Tests.Critic.ScriptedJudgeServer;

namespace Pipeline.Rewards.Tests.Critic;

/// <summary>Canary probes: known-bad and known-good candidates that catch a judge which cannot (or will not) tell them apart.</summary>
public sealed class CriticCanaryTests
{
    private const string Question = "[shop] [en] How many users?";
    private const string Reference = "SELECT COUNT(*) FROM users";

    /// <summary>One canary per real request, judged after six answered ones.</summary>
    private static CriticOptions Canaried(string baseUrl, bool invalidate = true) => Options(baseUrl) with
    {
        Canary = new CriticCanaryOptions { Rate = 1.0, MinProbes = 6, MinAccuracy = 0.8, Invalidate = invalidate },
    };

    private static Dictionary<string, double> Metrics(LlmCriticReward reward)
    {
        var data = new Dictionary<string, double>();
        reward.AddMetrics(data);
        return data;
    }

    [Fact]
    public async Task A_judge_that_always_says_10_is_flagged_untrusted_after_min_probes_canaries_and_its_signals_become_invalid()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 10}"));
        var log = new LogSink();
        using var client = new OpenAiCriticClient(Canaried(server.BaseUrl), log.Add);
        var reward = new LlmCriticReward(client, "judge", log: log.Add);

        // Two groups of two rollouts: four canaries, fewer than min-probes, so nothing is judged yet.
        for (var g = 0; g < 2; g++)
        {
            var early = await reward.ScoreAsync(Group(Question, Reference, "SELECT 1", "garbage"), CancellationToken.None);
            Assert.All(early, s => Assert.True(s.Valid, s.Details));
        }
        Assert.Equal(0, Metrics(reward)["critic/judge/untrusted"]);
        Assert.Equal(8, server.Count); // 4 real + 4 canaries

        // The third group brings the sixth canary: the judge is flagged, and this group is masked already.
        var flagged = await reward.ScoreAsync(Group(Question, Reference, "SELECT 2", "more garbage"), CancellationToken.None);
        Assert.All(flagged, s => Assert.False(s.Valid));
        Assert.All(flagged, s => Assert.Contains("critic untrusted: it got 3/6 canary probes right", s.Details));
        Assert.All(flagged, s => Assert.True(double.IsNaN(s.Value)));

        var m = Metrics(reward);
        Assert.Equal(1, m["critic/judge/untrusted"]);
        Assert.Equal(6, m["critic/judge/canary_probes"]);
        Assert.Equal(0.5, m["critic/judge/canary_accuracy"]); // the reference canaries were right (10 is high), every bad one wrong
        Assert.Equal(3, m["critic/judge/canary_probes/reference"]);
        Assert.Equal(0, m["critic/judge/canary_wrong/reference"]);
        Assert.Equal(3, m["critic/judge/canary_wrong/empty"] + m["critic/judge/canary_wrong/off-task"] + m["critic/judge/canary_wrong/injection"]);
        Assert.True(reward.Canaries.Untrusted);
        Assert.Single(log.Lines, l => l.Contains("UNTRUSTED"));
        Assert.Contains(log.Lines, l => l.Contains("critic judge: judge UNTRUSTED") && l.Contains("masked"));

        // From then on the judge is not asked and every signal is invalid.
        var before = server.Count;
        var later = await reward.ScoreAsync(Group(Question, Reference, "SELECT 3"), CancellationToken.None);
        Assert.False(Assert.Single(later).Valid);
        Assert.Equal(before, server.Count);
    }

    [Fact]
    public async Task With_invalidate_off_an_untrusted_judge_is_flagged_but_its_signals_are_still_used()
    {
        await using var server = await StartAsync(_ => Chat("{\"score\": 10}"));
        using var client = new OpenAiCriticClient(Canaried(server.BaseUrl, invalidate: false));
        var reward = new LlmCriticReward(client, "judge");

        for (var g = 0; g < 4; g++)
        {
            var signals = await reward.ScoreAsync(Group(Question, null, "SELECT 1", "SELECT 2"), CancellationToken.None);
            Assert.All(signals, s => Assert.True(s.Valid, s.Details));
            Assert.All(signals, s => Assert.Equal(1.0, s.Value));
        }

        var m = Metrics(reward);
        Assert.Equal(1, m["critic/judge/untrusted"]);
        Assert.Equal(0, m["critic/judge/canary_accuracy"]); // no reference: only bad canaries, all scored 10
        Assert.Equal(0, m["critic/judge/canary_probes/reference"]);
    }

    [Fact]
    public async Task An_honest_simulated_judge_passes_its_canaries_which_never_touch_the_rewards_or_the_cache()
    {
        await using var server = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0" });
        using var client = new OpenAiCriticClient(Canaried(server.BaseUrl) with { CacheEntries = 100 });
        var reward = new LlmCriticReward(client, "judge");

        for (var g = 0; g < 5; g++)
        {
            var signals = await reward.ScoreAsync(Group(Question, Reference, "select count(*) from users", "SELECT * FROM orders"), CancellationToken.None);
            Assert.Equal([1.0, 0.0], signals.Select(s => s.Value).ToArray()); // exactly the real candidates' scores
        }

        var m = Metrics(reward);
        Assert.Equal(0, m["critic/judge/untrusted"]);
        Assert.Equal(10, m["critic/judge/canary_probes"]);
        Assert.Equal(1.0, m["critic/judge/canary_accuracy"]);
        Assert.True(m["critic/judge/canary_probes/reference"] > 0 && m["critic/judge/canary_probes/injection"] > 0);
        // Canaries skip the cache: 10 real lookups (2 misses, then hits), 10 canary requests that never looked.
        var c = client.Counters;
        Assert.Equal(10, c.CacheHits + c.CacheMisses);
        Assert.Equal(2, c.CacheMisses);
        Assert.Equal(2 + 10, c.Requests);
        Assert.Equal(12, server.Stats.ChatRequests);
    }

    [Fact]
    public void The_hostile_simulated_judge_says_it_is_hostile_and_simulated_in_its_answer()
    {
        var prompt = JudgeTemplates.Pointwise("q", "SELECT 1", "");
        var maxed = new SimulatedJudge(new ExactMatchOracle(), hostile: SimulatedHostility.AlwaysMax).Answer(prompt.User).Content;
        Assert.StartsWith("Simulated judge (critic-sim, oracle exact, HOSTILE always-max)", maxed);
        Assert.EndsWith("{\"score\": 10}", maxed);

        var obey = new SimulatedJudge(new ExactMatchOracle(), hostile: SimulatedHostility.ObeyInjection);
        var injection = CriticCanaries.Candidate(CanaryKind.Injection, new ScoreScale(0, 10));
        Assert.EndsWith("{\"score\": 10}", obey.Answer(JudgeTemplates.Pointwise("q", "SELECT 1", injection).User).Content);
        Assert.EndsWith("{\"score\": 0}", obey.Answer(prompt.User).Content);       // honest about anything else
        Assert.EndsWith("{\"score\": 0}", new SimulatedJudge(new ExactMatchOracle()).Answer(
            JudgeTemplates.Pointwise("q", "SELECT 1", injection).User).Content); // the honest judge is not fooled
    }

    [Theory]
    [InlineData(SimulatedHostility.AlwaysMax, CriticMode.Pointwise)]
    [InlineData(SimulatedHostility.ObeyInjection, CriticMode.Pointwise)]
    [InlineData(SimulatedHostility.AlwaysMax, CriticMode.Pairwise)]
    public async Task A_hostile_simulated_judge_is_caught_by_the_canaries(SimulatedHostility hostile, CriticMode mode)
    {
        var log = new LogSink();
        await using var server = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0", Hostile = hostile });
        using var client = new OpenAiCriticClient(Canaried(server.BaseUrl) with { Mode = mode });
        var reward = new LlmCriticReward(client, "judge", log: log.Add);

        for (var g = 0; g < 12 && !reward.Canaries.Untrusted; g++)
            await reward.ScoreAsync(Group(Question, Reference, "select count(*) from users", "SELECT * FROM orders"), CancellationToken.None);

        Assert.True(reward.Canaries.Untrusted, $"{hostile}/{mode}: not flagged: {reward.Canaries}");
        Assert.StartsWith("critic-sim/exact/hostile-", server.Model);
        Assert.Contains(log.Lines, l => l.Contains("UNTRUSTED"));
        if (hostile == SimulatedHostility.ObeyInjection)
        {
            // Everything else it judges right: only the injection canaries give it away.
            var r = reward.Canaries;
            Assert.Equal(r.ProbesByKind["injection"], r.WrongByKind["injection"]);
            Assert.Equal(r.WrongByKind["injection"], r.Probes - r.Correct);
        }
    }
}
