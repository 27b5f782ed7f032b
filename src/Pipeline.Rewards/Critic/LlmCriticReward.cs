using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Rewards.Critic;

/// <summary>
/// An LLM judge as a (slow) reward source. Pointwise (default): every rollout of the group is scored concurrently on the declared
/// scale, normalised to [0, 1]; with <c>dense = on</c> the judge's marked spans are located in the completion and attached as
/// <see cref="RewardSignal.Spans"/>. Pairwise: every pair of the group is compared once (alternating which one is shown first,
/// against position bias) and a rollout's value is its win rate (win 1, tie 0.5, loss 0) over the comparisons that succeeded.
/// A failed judge call gives an invalid signal with the reason (masked downstream, never 0). Cancellation propagates to the caller.
/// <para>Canary probes (<see cref="CriticCanaries"/>, <c>canary.*</c>) ride along with the real requests, through the same client
/// (same concurrency limit) but never through the response cache, and never into a rollout's signal. When they show the judge
/// cannot tell known-bad from known-good answers it is flagged untrusted, and with <c>canary.invalidate = on</c> its signals are
/// invalid from then on (the judge is no longer asked).</para>
/// </summary>
public sealed class LlmCriticReward : IRewardSource, IReportsMetrics, IDisposable
{
    private readonly OpenAiCriticClient _client;
    private readonly bool _ownsClient;
    private readonly CriticCanaries _canaries;

    /// <param name="log">Receives the warning when canaries flag the judge untrusted.</param>
    public LlmCriticReward(OpenAiCriticClient client, string name = "critic", bool ownsClient = false, Action<string>? log = null)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _ownsClient = ownsClient;
        _canaries = new CriticCanaries(client.Options.Canary, name, log);
    }

    /// <summary>The registry factory for type <c>critic</c>: options from the context's settings block, log lines to its Warn sink.</summary>
    public static LlmCriticReward Create(RewardSourceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var client = new OpenAiCriticClient(CriticOptions.FromConfig(context.Settings), context.Warn);
        return new LlmCriticReward(client, context.Name, ownsClient: true, context.Warn);
    }

    public string Name { get; }
    public RewardSourceKind Kind => RewardSourceKind.Slow;
    public (double Min, double Max) Range => (0, 1);
    public OpenAiCriticClient Client => _client;

    /// <summary>The canary record: probes, accuracy, and whether the judge is flagged untrusted (for end-of-run summaries).</summary>
    public CanaryReport Canaries => _canaries.Report;

    /// <summary>
    /// The client's counters as <c>critic/&lt;name&gt;/requests</c>, <c>critic/&lt;name&gt;/failures/timeout</c>, ..., and the canary
    /// record as <c>critic/&lt;name&gt;/canary_accuracy</c>, <c>critic/&lt;name&gt;/untrusted</c>, ... (a snapshot; thread-safe).
    /// </summary>
    public void AddMetrics(IDictionary<string, double> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        foreach (var (key, value) in _client.Counters.ToMetrics($"critic/{Name}")) data[key] = value;
        _canaries.AddMetrics(data, $"critic/{Name}");
    }

    public async Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (Masked) return Untrusted(group, TimeSpan.Zero);
        var options = _client.Options;
        var question = group.Prompt.Text;
        var reference = options.IncludeReference && !string.IsNullOrWhiteSpace(group.Prompt.Reference) ? group.Prompt.Reference : null;
        var pairwise = options.Mode == CriticMode.Pairwise;
        var n = group.Rollouts.Length;
        var realRequests = pairwise ? (n < 2 ? 0 : n * (n - 1) / 2) : n;
        // The canary's good candidate is the prompt's reference even when include-reference keeps it out of the judge prompt.
        var canaries = Enumerable.Range(0, _canaries.Due(realRequests))
            .Select(_ => ProbeAsync(question, reference, group.Prompt.Reference, pairwise, options.Scale, cancellationToken)).ToArray();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var scoring = pairwise
            ? PairwiseAsync(group, question, reference, cancellationToken)
            : PointwiseAsync(group, question, reference, options, cancellationToken);
        await Task.WhenAll(canaries.Append(scoring)).ConfigureAwait(false);
        // A group whose own canaries revealed the judge is masked too.
        return Masked ? Untrusted(group, System.Diagnostics.Stopwatch.GetElapsedTime(started)) : await scoring.ConfigureAwait(false);
    }

    private bool Masked => _canaries.Options.Invalidate && _canaries.Untrusted;

    private RewardSignal[] Untrusted(RolloutGroup group, TimeSpan latency)
    {
        var reason = $"critic untrusted: {_canaries.UntrustedBecause}";
        return group.Rollouts.Select(_ => RewardSignal.Invalid(Name, reason, latency)).ToArray();
    }

    /// <summary>One canary: a known-bad candidate or the reference, asked uncached; its verdict only feeds the canary record.</summary>
    private async Task ProbeAsync(string question, string? shownReference, string? reference, bool pairwise, ScoreScale scale,
        CancellationToken cancellationToken)
    {
        if (_canaries.Next(reference, pairwise, scale) is not { } probe) return;
        if (pairwise)
        {
            var (a, b) = probe.ReferenceFirst ? (reference!, probe.Candidate) : (probe.Candidate, reference!);
            var outcome = await _client.CompareUncachedAsync(question, shownReference, a, b, cancellationToken).ConfigureAwait(false);
            _canaries.Record(probe.Kind, outcome.Ok ? (probe.ReferenceFirst ? outcome.Value!.PA : 1 - outcome.Value!.PA) > 0.5 : null);
        }
        else
        {
            var outcome = await _client.ScoreUncachedAsync(question, shownReference, probe.Candidate, cancellationToken).ConfigureAwait(false);
            _canaries.Record(probe.Kind, outcome.Ok ? CriticCanaries.PointwiseCorrect(probe.Kind, outcome.Value!.Normalised) : null);
        }
    }

    private async Task<IReadOnlyList<RewardSignal>> PointwiseAsync(RolloutGroup group, string question, string? reference, CriticOptions options,
        CancellationToken cancellationToken)
    {
        var scale = options.Scale;
        var tasks = group.Rollouts.Select(async rollout =>
        {
            var outcome = await _client.ScoreAsync(question, reference, rollout.CompletionText, scale, options.Dense, cancellationToken).ConfigureAwait(false);
            if (!outcome.Ok) return RewardSignal.Invalid(Name, $"critic {outcome.Failure!.Value.Key()}: {outcome.Detail}", outcome.Latency);
            var verdict = outcome.Value!;
            var signal = RewardSignal.Ok(Name, verdict.Normalised, outcome.Latency,
                $"score {verdict.Score.ToString("0.###", CultureInfo.InvariantCulture)} on {scale}{(outcome.Cached ? " (cached)" : "")}");
            if (options.Dense && signal.Valid)
                signal = signal with { Spans = JudgeTemplates.MapSpans(rollout.CompletionText, verdict.Spans) };
            return signal;
        }).ToArray();
        return await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<RewardSignal>> PairwiseAsync(RolloutGroup group, string question, string? reference, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var n = group.Rollouts.Length;
        if (n < 2)
            return group.Rollouts.Select(_ => RewardSignal.Invalid(Name, "pairwise critic needs at least two completions in the group", TimeSpan.Zero)).ToArray();

        var pairs = new List<(int I, int J)>();
        for (var i = 0; i < n; i++)
            for (var j = i + 1; j < n; j++)
                pairs.Add((i, j));
        var results = await Task.WhenAll(pairs.Select(async (p, k) =>
        {
            // Alternate who is shown first so a judge's position bias cancels out over the group.
            var (first, second) = k % 2 == 0 ? (p.I, p.J) : (p.J, p.I);
            var outcome = await _client.CompareAsync(question, reference,
                group.Rollouts[first].CompletionText, group.Rollouts[second].CompletionText, cancellationToken).ConfigureAwait(false);
            double? pFirst = outcome.Ok ? outcome.Value!.PA : null;
            return (First: first, Second: second, PFirst: pFirst, Outcome: outcome);
        })).ConfigureAwait(false);

        var latency = Stopwatch.GetElapsedTime(started);
        var wins = new double[n];
        var counts = new int[n];
        var lastFailure = new string?[n];
        foreach (var r in results)
        {
            if (r.PFirst is { } pf)
            {
                wins[r.First] += pf;
                wins[r.Second] += 1 - pf;
                counts[r.First]++;
                counts[r.Second]++;
            }
            else
            {
                var reason = $"critic {r.Outcome.Failure!.Value.Key()}: {r.Outcome.Detail}";
                lastFailure[r.First] = reason;
                lastFailure[r.Second] = reason;
            }
        }
        var signals = new RewardSignal[n];
        for (var i = 0; i < n; i++)
        {
            signals[i] = counts[i] == 0
                ? RewardSignal.Invalid(Name, $"no pairwise comparison succeeded ({lastFailure[i]})", latency)
                : RewardSignal.Ok(Name, wins[i] / counts[i], latency,
                    $"win rate {wins[i].ToString("0.#", CultureInfo.InvariantCulture)}/{counts[i]} over {n - 1} others");
        }
        return signals;
    }

    public void Dispose()
    {
        if (_ownsClient) _client.Dispose();
    }
}
