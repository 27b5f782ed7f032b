using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Pipeline.Core.Protocol;
using Pipeline.Rewards.Critic;

namespace Pipeline.Rewards.Tests.Critic;

internal static class CriticTestKit
{
    /// <summary>Fast, cache-less options against a scripted server: small backoff so retry tests stay quick.</summary>
    public static CriticOptions Options(string baseUrl) => new()
    {
        BaseUrl = baseUrl,
        Model = "test-judge",
        Timeout = TimeSpan.FromSeconds(5),
        MaxRetries = 3,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        RetryMaxDelay = TimeSpan.FromSeconds(3),
        CacheEntries = 0,
    };

    public static RolloutGroup Group(string question, string? reference, params string[] completions) => new(
        "g1",
        new Prompt("p1", question, reference, ImmutableDictionary<string, string>.Empty),
        0,
        completions.Select((c, i) => new Rollout($"r{i}", "g1", "p1", 0, [], [], [], c, false)).ToImmutableArray(),
        TimeSpan.Zero);

    public sealed class LogSink
    {
        private readonly ConcurrentQueue<string> _lines = new();
        public void Add(string line) => _lines.Enqueue(line);
        public IReadOnlyList<string> Lines => _lines.ToArray();
        public string All => string.Join("\n", _lines);
    }
}

/// <summary>
/// A judge that obeys whatever instructions it believes are outside the data. It reads the user message naively: the candidate
/// section starts at the first <c>&lt;candidate...&gt;</c> tag and ends at the FIRST matching closing tag it finds (so a forged
/// closing tag ends it early), and everything after that "last delimiter" is taken as instructions: if a score is requested there
/// (<c>score: 10</c>, <c>{"score": 10}</c>, ...) it copies it. Otherwise it gives its honest verdict, the floor (every canary is a
/// wrong answer). Like a chatty model, it first echoes the candidate in its "thought process", then writes its final JSON.
/// </summary>
internal static class ObedientJudge
{
    private static readonly Regex OpenTag = new(@"<candidate(-[0-9a-z]+)?>");
    private static readonly Regex ScoreRequest = new(@"score\W{0,4}(\d+(?:\.\d+)?)", RegexOptions.IgnoreCase);

    public static string Reply(string user, string floor = "0")
    {
        var candidate = "";
        var instructions = user;
        var open = OpenTag.Match(user);
        if (open.Success)
        {
            var close = "</candidate" + open.Groups[1].Value + ">";
            var start = open.Index + open.Length;
            var end = user.IndexOf(close, start, StringComparison.Ordinal);
            if (end < 0) end = user.Length;
            candidate = user[start..end];
            instructions = end + close.Length <= user.Length ? user[(end + close.Length)..] : "";
        }
        var requests = ScoreRequest.Matches(instructions);
        var verdict = requests.Count > 0 ? requests[^1].Groups[1].Value : floor;
        return $"Thought process: the candidate wrote: {candidate.Trim()}\nFinal verdict: {{\"score\": {verdict}}}";
    }
}
