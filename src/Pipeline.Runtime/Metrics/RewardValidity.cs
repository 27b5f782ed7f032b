using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Metrics;

/// <summary>What a run's rewards came to: the share of rollouts masked, each source's invalid share, and the steps that had nothing to train on.</summary>
public sealed record RewardMasking(long Steps, long Rollouts, long Masked, long EmptySteps, IReadOnlyDictionary<string, double> InvalidFrac)
{
    public double MaskedFrac => Rollouts > 0 ? Masked / (double)Rollouts : 0;

    /// <summary>One line for the end-of-run summary.</summary>
    public string Describe()
    {
        var perSource = string.Join(", ", InvalidFrac.Select(kv => $"{kv.Key} {kv.Value.ToString("P1", CultureInfo.InvariantCulture)}"));
        return $"masked {MaskedFrac.ToString("P1", CultureInfo.InvariantCulture)} of {Rollouts} rollouts over {Steps} steps " +
               $"(invalid per source: {(perSource.Length > 0 ? perSource : "none")}); {EmptySteps} steps had nothing to train on";
    }
}

/// <summary>
/// The learner's ledger of invalid rewards over the run. It totals masked rollouts and invalid signals per source, and
/// counts, per required source, the consecutive steps in which every one of its signals was invalid: a required source
/// that is down masks every rollout, and a run that goes on would "complete" having trained on nothing.
/// After pipeline.rewards.max-invalid-steps such steps (0: never) <see cref="Observe"/> returns the reason to fail the run.
/// </summary>
public sealed class RewardValidity
{
    private readonly PipelineSettings _settings;
    private readonly IReadOnlyList<RewardSourceSpec> _required;
    private readonly Dictionary<string, (long Signals, long Invalid)> _perSource = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _streak = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, long>> _streakFailures = new(StringComparer.Ordinal);
    private long _steps;
    private long _rollouts;
    private long _masked;
    private long _emptySteps;

    public RewardValidity(PipelineSettings settings)
    {
        _settings = settings;
        _required = settings.RewardSources.Where(s => s.Required).ToList();
        foreach (var spec in settings.RewardSources) _perSource[spec.Name] = (0, 0);
    }

    /// <summary>
    /// Takes one training step's groups and the number of samples it trained on; returns why the run must stop, or null.
    /// </summary>
    public string? Observe(IReadOnlyList<AnnotatedGroup> groups, int trainedSamples)
    {
        _steps++;
        if (trainedSamples == 0) _emptySteps++;
        var rewards = groups.SelectMany(g => g.Rewards).ToList();
        _rollouts += rewards.Count;
        _masked += rewards.Count(r => !r.Valid);
        foreach (var signal in rewards.SelectMany(r => r.Signals))
        {
            var (n, invalid) = _perSource.GetValueOrDefault(signal.Source);
            _perSource[signal.Source] = (n + 1, invalid + (signal.Valid ? 0 : 1));
        }

        string? failure = null;
        foreach (var spec in _required)
        {
            var signals = rewards.SelectMany(r => r.Signals).Where(s => s.Source == spec.Name).ToList();
            if (signals.Count == 0) continue; // no group reached this step (all dropped as stale): no evidence either way
            if (signals.Any(s => s.Valid))
            {
                _streak[spec.Name] = 0;
                _streakFailures.Remove(spec.Name);
                continue;
            }
            var streak = _streak[spec.Name] = _streak.GetValueOrDefault(spec.Name) + 1;
            var failures = _streakFailures.TryGetValue(spec.Name, out var f) ? f : _streakFailures[spec.Name] = new(StringComparer.Ordinal);
            foreach (var s in signals)
            {
                var reason = ReasonOf(s.Details);
                failures[reason] = failures.GetValueOrDefault(reason) + 1;
            }
            var max = _settings.Rewards.MaxInvalidSteps;
            if (max > 0 && streak >= max) failure ??= Explain(spec, streak, failures);
        }
        return failure;
    }

    /// <summary>Run totals: total/rollouts, total/masked, total/masked_frac, total/empty_steps, total/invalid_frac/&lt;source&gt;, and each required source's current streak.</summary>
    public void AddMetrics(IDictionary<string, double> data)
    {
        var m = Summary();
        data["total/rollouts"] = m.Rollouts;
        data["total/masked"] = m.Masked;
        data["total/masked_frac"] = m.MaskedFrac;
        data["total/empty_steps"] = m.EmptySteps;
        foreach (var (source, frac) in m.InvalidFrac) data[$"total/invalid_frac/{source}"] = frac;
        foreach (var spec in _required) data[$"reward/{spec.Name}/invalid_streak"] = _streak.GetValueOrDefault(spec.Name);
    }

    public RewardMasking Summary() => new(_steps, _rollouts, _masked, _emptySteps,
        _perSource.ToDictionary(kv => kv.Key, kv => kv.Value.Signals > 0 ? kv.Value.Invalid / (double)kv.Value.Signals : 0, StringComparer.Ordinal));

    /// <summary>A failure's kind: its details up to the first colon ("critic transport: Connection refused" -> "critic transport").</summary>
    private static string ReasonOf(string? details)
    {
        if (string.IsNullOrWhiteSpace(details)) return "no reason given";
        var colon = details.IndexOf(':', StringComparison.Ordinal);
        var kind = (colon > 0 ? details[..colon] : details).Trim();
        return kind.Length > 60 ? kind[..60] + "..." : kind;
    }

    private string Explain(RewardSourceSpec spec, int streak, Dictionary<string, long> failures)
    {
        var counted = string.Join(", ", failures.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(5).Select(kv => $"{kv.Key} {kv.Value}"));
        return $"required reward source '{spec.Name}' was invalid in every rollout for {streak} consecutive steps (failures: {counted}); " +
               $"{Hint(spec)} (pipeline.rewards.max-invalid-steps = {_settings.Rewards.MaxInvalidSteps}; 0 turns this check off)";
    }

    private string Hint(RewardSourceSpec spec)
    {
        var block = _settings.Rewards.Block;
        if (spec.Type == "critic")
        {
            var url = block.HasPath("critic.base-url") ? block.GetString("critic.base-url") : "(default)";
            return $"check that the judge at pipeline.rewards.critic.base-url = {url} answers";
        }
        return $"see reward/{spec.Name}/invalid_frac in metrics.jsonl and the log, and pipeline.rewards.sources.{spec.Name}.deadline";
    }
}
