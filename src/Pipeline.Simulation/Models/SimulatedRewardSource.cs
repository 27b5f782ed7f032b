using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Simulation.Core;
using Pipeline.Simulation.Costs;

namespace Pipeline.Simulation.Models;

/// <summary>Counters of one simulated source, shared by its instances (one per annotation stage for a fast source).</summary>
public sealed class SimulatedSourceStats(string name)
{
    public string Name { get; } = name;
    public int Queued { get; internal set; }
    public int Running { get; internal set; }
    public long Calls { get; internal set; }
    public long Errors { get; internal set; }
    public long RateLimited { get; internal set; }
    public long Timeouts { get; internal set; }
}

/// <summary>
/// A reward source simulated by its <see cref="SourceCost"/>: one call per group, answered on the virtual clock after its
/// drawn latency, with the declared error, 429 and timeout rates giving invalid signals (never 0). A call is not cut short
/// when the annotation stage stops waiting, as a remote judge's would not be; its late answer is simply not used.
/// </summary>
public sealed class SimulatedRewardSource : IRewardSource, IReportsMetrics
{
    private readonly SourceCost _cost;
    private readonly VirtualClock _clock;
    private readonly Random _rng;
    private readonly Queue<(RolloutGroup Group, TaskCompletionSource<IReadOnlyList<RewardSignal>> Answer, long Arrived)> _queue = new();
    private int _running;

    public SimulatedRewardSource(string name, SourceCost cost, VirtualClock clock, Random rng, SimulatedSourceStats stats)
    {
        Name = name;
        _cost = cost;
        _clock = clock;
        _rng = rng;
        Stats = stats;
    }

    public string Name { get; }
    public RewardSourceKind Kind => _cost.Kind;
    public (double Min, double Max) Range => (0, 1);
    public SimulatedSourceStats Stats { get; }

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        // Continuations run on the loop's thread where the timer completes this (no RunContinuationsAsynchronously).
        var answer = new TaskCompletionSource<IReadOnlyList<RewardSignal>>();
        var arrived = _clock.GetTimestamp();
        Stats.Calls++;
        if (_cost.Workers == 0 || _running < _cost.Workers) Start(group, answer, arrived);
        else if (_queue.Count < _cost.Queue)
        {
            _queue.Enqueue((group, answer, arrived));
            Stats.Queued++;
        }
        else
        {
            Stats.RateLimited++;
            answer.SetResult(Invalid(group, "429: simulated queue full", TimeSpan.Zero));
        }
        return answer.Task;
    }

    private void Start(RolloutGroup group, TaskCompletionSource<IReadOnlyList<RewardSignal>> answer, long arrived)
    {
        _running++;
        Stats.Running++;
        var latency = _cost.Latency.Sample(_rng);
        var u = _rng.NextDouble();
        string? failure = null;
        if (u < _cost.ErrorRate) { failure = "simulated error"; Stats.Errors++; }
        else if (u < _cost.ErrorRate + _cost.RateLimitRate) { failure = "429: simulated rate limit"; Stats.RateLimited++; }
        else if (u < _cost.ErrorRate + _cost.RateLimitRate + _cost.TimeoutRate)
        {
            failure = "simulated timeout";
            latency = _cost.Timeout;
            Stats.Timeouts++;
        }
        // Drawn now, in call order, so the values do not depend on when answers are read.
        var values = failure is null ? group.Rollouts.Select(_ => _rng.NextDouble() < _cost.PCorrect ? 1.0 : 0.0).ToArray() : null;
        _clock.Schedule(TimeSpan.FromSeconds(latency), () =>
        {
            _running--;
            Stats.Running--;
            var took = _clock.GetElapsedTime(arrived);
            answer.SetResult(values is null
                ? Invalid(group, failure!, took)
                : values.Select(v => RewardSignal.Ok(Name, v, took)).ToImmutableArray());
            if (_queue.TryDequeue(out var next))
            {
                Stats.Queued--;
                Start(next.Group, next.Answer, next.Arrived);
            }
        });
    }

    private IReadOnlyList<RewardSignal> Invalid(RolloutGroup group, string reason, TimeSpan took)
        => group.Rollouts.Select(_ => RewardSignal.Invalid(Name, reason, took)).ToImmutableArray();

    /// <summary>Simulated counters, named <c>sim/&lt;source&gt;/...</c> so that no one reads them as a real source's.</summary>
    public void AddMetrics(IDictionary<string, double> data)
    {
        data[$"sim/{Name}/calls"] = Stats.Calls;
        data[$"sim/{Name}/queued"] = Stats.Queued;
        data[$"sim/{Name}/running"] = Stats.Running;
        data[$"sim/{Name}/errors"] = Stats.Errors;
        data[$"sim/{Name}/rate_limited"] = Stats.RateLimited;
        data[$"sim/{Name}/timeouts"] = Stats.Timeouts;
    }
}
