using Pipeline.Learning.Sampling;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Actors;
using Pipeline.Simulation.Core;
using Pipeline.Simulation.Costs;

namespace Pipeline.Simulation.Models;

/// <summary>What the generators did, for utilisation: busy virtual time summed over all of them, and groups sampled.</summary>
public sealed class GeneratorActivity
{
    /// <summary>The simulation's end: busy time past it is not counted.</summary>
    public TimeSpan End { get; init; } = TimeSpan.MaxValue;
    public double BusySeconds { get; internal set; }
    public long Groups { get; internal set; }
    /// <summary>Generators busy right now (sampled by the queue-depth probe).</summary>
    public int Busy(TimeSpan now) => _busyUntil.Count(u => u > now);
    private readonly List<TimeSpan> _busyUntil = [];
    internal int Register() { _busyUntil.Add(TimeSpan.Zero); return _busyUntil.Count - 1; }
    internal void BusyUntil(int slot, TimeSpan until) => _busyUntil[slot] = until;
    internal void Idle(int slot) => _busyUntil[slot] = TimeSpan.Zero;
}

/// <summary>
/// A generator's sampler in a simulation: synthetic token ids with lengths drawn from the cost model, and a busy duration of
/// <c>group-overhead + per-token * tokens</c> during which the generator holds the group (a timer on the virtual clock).
/// Weights are taken as they come (there is no model to copy them into).
/// </summary>
public sealed class SimulatedGroupSampler(GeneratorCost cost, Random rng, VirtualClock clock, GeneratorActivity activity) : Generator.IGroupSampler
{
    private readonly int _slot = activity.Register();

    public bool Apply(IWeightSource weights) => true;

    public Generator.SampledGroup SampleGroup(int[] promptTokens, int groupSize, SamplingSettings sampling)
    {
        var completions = new SampledCompletion[groupSize];
        var tokens = 0;
        for (var i = 0; i < groupSize; i++)
        {
            var n = (int)Math.Clamp(Math.Round(cost.CompletionTokens.Sample(rng)), 1, Math.Max(1, sampling.MaxTokens));
            var ids = new int[n];
            for (var t = 0; t < n; t++) ids[t] = SimulatedTokenizer.FirstWordId + (t % SimulatedTokenizer.Words);
            completions[i] = new SampledCompletion(ids, new float[n], Truncated: n >= sampling.MaxTokens);
            tokens += n;
        }
        var busy = TimeSpan.FromSeconds(cost.GroupOverhead + cost.PerToken * tokens);
        var now = clock.Elapsed;
        activity.BusySeconds += Math.Max(0, Math.Min(busy.TotalSeconds, (activity.End - now).TotalSeconds));
        activity.Groups++;
        activity.BusyUntil(_slot, now + busy);
        return new Generator.SampledGroup(completions, busy);
    }

    public void Dispose() => activity.Idle(_slot);
}
