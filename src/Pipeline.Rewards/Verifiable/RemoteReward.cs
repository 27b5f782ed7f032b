using System.Buffers;
using System.Text.Json;
using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Critic;

namespace Pipeline.Rewards.Verifiable;

/// <summary>
/// A remote scoring service as a (slow) reward source, speaking OpenRLHF's remote reward-model protocol so existing reward
/// servers plug in unchanged: <c>POST url</c> with <c>{"query": [prompt + completion, ...], "prompts": [...], "labels": [reference, ...]}</c>
/// (plus <c>"completions"</c> and <c>"metadata"</c>, which such servers ignore) answered by <c>{"rewards": [number, ...]}</c>, one per
/// query, in order. One request per group (split into batch-size chunks). The HTTP path is the critic's client: the same
/// timeouts, retries, circuit breaker, concurrency limit and response-size cap, and the same counters (remote/&lt;name&gt;/...).
/// A failed call, a reply of the wrong length, or a null / non-number / out-of-range reward gives invalid signals (masked), never 0.
/// </summary>
public sealed class RemoteReward : IRewardSource, IReportsMetrics, IDisposable
{
    private readonly OpenAiCriticClient _client;
    private readonly int _batchSize;

    public RemoteReward(string name, OpenAiCriticClient client, int batchSize, (double Min, double Max) range)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _batchSize = batchSize > 0 ? batchSize : throw new ArgumentOutOfRangeException(nameof(batchSize));
        Range = range;
    }

    /// <summary>The registry factory for type <c>remote</c>: pipeline.rewards.remote { url, batch-size, min, max, and the critic's HTTP keys }.</summary>
    public static RemoteReward Create(RewardSourceContext context, Func<string, string>? originOf = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (options, url, batch, range) = ReadSettings(context.Settings, originOf);
        return new RemoteReward(context.Name, new OpenAiCriticClient(options, url, line => context.Warn(line.Replace("critic:", $"remote reward '{context.Name}':", StringComparison.Ordinal))), batch, range);
    }

    /// <summary>Reads and checks pipeline.rewards.remote (the start-up check calls it too).</summary>
    public static (CriticOptions Options, Uri Url, int BatchSize, (double Min, double Max) Range) ReadSettings(Config? settings, Func<string, string>? originOf = null)
    {
        const string path = "pipeline.rewards.remote";
        var block = new ConfigBlock(settings, path, originOf);
        var url = block.Parse("url", (Uri?)null, s => Uri.TryCreate(s, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"
            ? u : throw new FormatException("expected an http(s) URL such as http://127.0.0.1:5000/get_reward"));
        if (url is null) throw block.Error("url", "", "set the reward server's URL, e.g. http://127.0.0.1:5000/get_reward");
        var batch = block.Int("batch-size", 64);
        if (batch < 1) throw block.Error("batch-size", batch, "must be at least 1");
        var min = block.Double("min", -1e6);
        var max = block.Double("max", 1e6);
        if (!(min < max)) throw block.Error("max", max, $"must be greater than min ({min})");
        var options = CriticOptions.FromConfig(settings, originOf, path) with { CacheEntries = 0 };
        return (options, url, batch, (min, max));
    }

    public string Name { get; }
    public RewardSourceKind Kind => RewardSourceKind.Slow;
    public (double Min, double Max) Range { get; }
    public OpenAiCriticClient Client => _client;

    public void AddMetrics(IDictionary<string, double> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        foreach (var (key, value) in _client.Counters.ToMetrics($"remote/{Name}")) data[key] = value;
    }

    public async Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        var chunks = group.Rollouts.Chunk(_batchSize).Select(c => ScoreChunkAsync(group.Prompt, c, cancellationToken)).ToArray();
        var results = await Task.WhenAll(chunks).ConfigureAwait(false);
        return results.SelectMany(r => r).ToList();
    }

    private async Task<IReadOnlyList<RewardSignal>> ScoreChunkAsync(Prompt prompt, Rollout[] rollouts, CancellationToken cancellationToken)
    {
        var body = Body(prompt, rollouts);
        var outcome = await _client.PostAsync(body, body.Length / 4, text => ParseRewards(text, rollouts.Length), cancellationToken).ConfigureAwait(false);
        if (!outcome.Ok)
        {
            var why = $"remote reward failed ({outcome.Failure?.Key() ?? "unknown"}): {outcome.Detail}";
            return rollouts.Select(_ => RewardSignal.Invalid(Name, why, outcome.Latency)).ToList();
        }
        return outcome.Value!.Select(v => v is { } x && double.IsFinite(x)
                ? x >= Range.Min && x <= Range.Max
                    ? RewardSignal.Ok(Name, x, outcome.Latency)
                    : RewardSignal.Invalid(Name, $"remote reward {x} is outside [{Range.Min}, {Range.Max}] (pipeline.rewards.remote.min/max)", outcome.Latency)
                : RewardSignal.Invalid(Name, "the server's reward for this completion is null or not a number", outcome.Latency))
            .ToList();
    }

    /// <summary>OpenRLHF's request: query = prompt + completion, prompts, labels; plus completions and metadata.</summary>
    public static byte[] Body(Prompt prompt, IReadOnlyList<Rollout> rollouts)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        var label = prompt.Reference ?? "";
        var metadata = PromptFields.MetadataOf(prompt);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("query");
            foreach (var r in rollouts) w.WriteStringValue(prompt.Text + r.CompletionText);
            w.WriteEndArray();
            w.WriteStartArray("prompts");
            foreach (var _ in rollouts) w.WriteStringValue(prompt.Text);
            w.WriteEndArray();
            w.WriteStartArray("labels");
            foreach (var _ in rollouts) w.WriteStringValue(label);
            w.WriteEndArray();
            w.WriteStartArray("completions");
            foreach (var r in rollouts) w.WriteStringValue(r.CompletionText);
            w.WriteEndArray();
            w.WriteStartArray("metadata");
            foreach (var _ in rollouts) w.WriteRawValue(metadata, skipInputValidation: false);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>{"rewards": [...]} with exactly one entry per query; an entry that is not a number reads as null (that rollout invalid).</summary>
    public static JudgeParse<double?[]> ParseRewards(string body, int expected)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("rewards", out var rewards)
                || rewards.ValueKind != JsonValueKind.Array)
                return JudgeParse<double?[]>.Bad(CriticFailure.Parse, $"expected {{\"rewards\": [...]}}, got: {JudgeTemplates.Clip(body)}");
            if (rewards.GetArrayLength() != expected)
                return JudgeParse<double?[]>.Bad(CriticFailure.Parse, $"{rewards.GetArrayLength()} rewards for {expected} queries");
            return JudgeParse<double?[]>.Good(rewards.EnumerateArray()
                .Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var v) ? v : (double?)null).ToArray());
        }
        catch (JsonException e)
        {
            return JudgeParse<double?[]>.Bad(CriticFailure.Parse, $"not JSON ({e.Message}): {JudgeTemplates.Clip(body)}");
        }
    }

    public void Dispose() => _client.Dispose();
}
