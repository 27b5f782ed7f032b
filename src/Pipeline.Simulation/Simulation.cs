using Akka.Actor;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Hosting;
using Pipeline.Simulation.Core;
using Pipeline.Simulation.Costs;
using Pipeline.Simulation.Models;

namespace Pipeline.Simulation;

/// <summary>
/// The simulation placement: the real prompt source, replay buffer, annotation stages, generators and metrics recorder,
/// built by <see cref="RoleBuilders"/> as in local and cluster mode, on one <see cref="SimulationLoop"/> in virtual time.
/// Sampling, scoring, training and weight transfer take the time the <see cref="CostModel"/> declares
/// (<see cref="SimulatedGroupSampler"/>, <see cref="SimulatedRewardSource"/>, <see cref="SimulatedLearner"/>).
/// </summary>
public static class Simulation
{
    /// <summary>The run folder's copy of the cost model used (the default file, then the user's).</summary>
    public const string CostsFile = "costs.conf";
    public const string SummaryFile = "summary.json";
    private const int Prompts = 4096;
    private static readonly TimeSpan ProbeEvery = TimeSpan.FromSeconds(1);

    /// <summary>Runs <paramref name="settings"/> for <paramref name="duration"/> of virtual time with <paramref name="costs"/>, writing into <paramref name="runDir"/>.</summary>
    public static SimulationSummary Run(PipelineSettings settings, CostModel costs, TimeSpan duration, string runDir, string logLevel = "WARNING")
    {
        if (duration <= TimeSpan.Zero) throw new ConfigException($"--duration must be positive (it is {duration})");
        Directory.CreateDirectory(runDir);
        using var loop = new SimulationLoop();
        var clock = loop.Clock;
        var time = new RunClock(clock, CallSourcesInline: true);
        var s = settings;
        var generatorActivity = new GeneratorActivity { End = duration };
        var learnerActivity = new LearnerActivity();
        var indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var run = RunContext.Simulated(s, runDir, new SimulatedTokenizer(costs.Generator.PromptTokens)) with
        {
            Clock = time,
            Samplers = (id, seed) => new SimulatedGroupSampler(costs.GeneratorAt(indexOf[id]), new Random(unchecked((int)seed)), clock, generatorActivity),
        };
        var task = new SimulatedTask(Prompts);

        var system = SimulatedActorSystem.Create("simulation", loop, s.Hocon, logLevel);
        var metrics = system.ActorOf(RoleBuilders.Metrics(run, null), "metrics");
        var prompts = system.ActorOf(RoleBuilders.Prompts(s, task, null), "prompts");
        var buffer = system.ActorOf(RoleBuilders.Buffer(s, runDir, null, prompts, time), "buffer");

        var stats = s.RewardSources.ToDictionary(x => x.Name, x => new SimulatedSourceStats(x.Name), StringComparer.Ordinal);
        var shared = new Dictionary<string, SimulatedRewardSource>(StringComparer.Ordinal);
        var counters = new List<IReportsMetrics>();
        SimulatedRewardSource Source(RewardSourceSpec spec, int stage)
        {
            var cost = costs.SourceFor(spec.Name);
            if (cost.Kind == RewardSourceKind.Slow && shared.TryGetValue(spec.Name, out var one)) return one;
            var source = new SimulatedRewardSource(spec.Name, cost, clock, new Random(SeedOf(s.Seed, spec.Name, stage)), stats[spec.Name]);
            if (cost.Kind == RewardSourceKind.Slow) shared[spec.Name] = source;
            if (stage == 0) counters.Add(source);  // the counters are per name; one instance reports them
            return source;
        }
        var stages = Enumerable.Range(0, costs.Annotators).Select(k =>
        {
            var sources = s.RewardSources.Select(spec => ((IRewardSource)Source(spec, k), spec)).ToList();
            return system.ActorOf(RoleBuilders.AnnotationStage(s, sources, buffer, null, time), $"annotation-{k}");
        }).ToList();

        var learner = system.ActorOf(SimulatedLearner.Props(s, costs.Learner, costs.WeightSync, buffer, metrics, counters, learnerActivity), "learner");

        var generators = new IActorRef?[s.Generation.Generators];
        var slot = 0L;
        void StartGenerator(int index, string id)
        {
            indexOf[id] = index;
            generators[index] = system.ActorOf(RoleBuilders.Generator(run, id, ++slot, buffer, stages[index % stages.Count], learner), id);
        }
        for (var i = 0; i < generators.Length; i++) StartGenerator(i, $"generator-{i}");

        var restarts = 0;
        foreach (var loss in costs.NodeLosses)
        {
            if (loss.Generator >= generators.Length)
                throw new ConfigException($"costs.node-loss: generator {loss.Generator} does not exist (pipeline.generation.generators = {generators.Length})");
            clock.Schedule(TimeSpan.FromSeconds(loss.At), () =>
            {
                if (generators[loss.Generator] is not { } g) return;
                system.Stop(g);
                generators[loss.Generator] = null;
                if (loss.RestartAfter is { } after)
                    clock.Schedule(TimeSpan.FromSeconds(after), () => StartGenerator(loss.Generator, $"generator-{loss.Generator}-r{++restarts}"));
            });
        }

        var busy = new List<double>();
        var depths = stats.Keys.ToDictionary(n => n, _ => (Queued: new List<double>(), Running: new List<double>()), StringComparer.Ordinal);
        void Probe()
        {
            busy.Add(generatorActivity.Busy(clock.Elapsed));
            foreach (var (name, st) in stats)
            {
                depths[name].Queued.Add(st.Queued);
                depths[name].Running.Add(st.Running);
            }
            clock.Schedule(ProbeEvery, Probe);
        }
        clock.Schedule(ProbeEvery, Probe);

        loop.RunUntil(duration, () => learnerActivity.Failure is not null);
        var end = clock.Elapsed;
        var summary = Summarise(s, costs, end, generatorActivity, learnerActivity, stats, busy, depths, loop.ForeignPosts);
        SimulatedActorSystem.Terminate(system, loop, TimeSpan.FromMinutes(1));
        File.WriteAllText(Path.Combine(runDir, SummaryFile), summary.ToJson());
        return summary;
    }

    private static SimulationSummary Summarise(PipelineSettings s, CostModel costs, TimeSpan end, GeneratorActivity gen, LearnerActivity learner,
        IReadOnlyDictionary<string, SimulatedSourceStats> stats, List<double> busy,
        Dictionary<string, (List<double> Queued, List<double> Running)> depths, long foreignPosts)
    {
        var seconds = Math.Max(end.TotalSeconds, 1e-9);
        var queues = new SortedDictionary<string, Depth>(StringComparer.Ordinal)
        {
            ["buffer/depth"] = SimulationSummary.DepthOf(learner.BufferDepths),
            ["generators/busy"] = SimulationSummary.DepthOf(busy),
        };
        foreach (var (name, d) in depths)
        {
            queues[$"source/{name}/queued"] = SimulationSummary.DepthOf(d.Queued);
            queues[$"source/{name}/running"] = SimulationSummary.DepthOf(d.Running);
        }
        var coverage = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in stats.Keys)
        {
            var valid = learner.ValidSignals.GetValueOrDefault(name);
            var invalid = learner.InvalidSignals.GetValueOrDefault(name);
            coverage[name] = valid + invalid > 0 ? valid / (double)(valid + invalid) : 0;
        }
        var drops = new SortedDictionary<string, long>(StringComparer.Ordinal);
        if (learner.LastStats is { } b)
        {
            drops["buffer/dropped_stale"] = b.DroppedStale;
            drops["buffer/dropped_late"] = b.DroppedLate;
            drops["buffer/dropped_uninformative"] = b.DroppedUninformative;
            drops["admission/credits_expired"] = b.CreditsExpired;
            drops["admission/credits_released"] = b.CreditsReleased;
        }
        foreach (var (name, st) in stats)
        {
            drops[$"source/{name}/errors"] = st.Errors;
            drops[$"source/{name}/rate_limited"] = st.RateLimited;
            drops[$"source/{name}/timeouts"] = st.Timeouts;
        }
        var staleCount = learner.Staleness.Values.Sum();
        return new SimulationSummary
        {
            Seed = s.Seed,
            DurationS = end.TotalSeconds,
            Generators = s.Generation.Generators,
            Annotators = costs.Annotators,
            Steps = learner.Steps,
            PolicyVersion = learner.Version,
            GroupsGenerated = gen.Groups,
            GroupsTrained = learner.GroupsTrained,
            RolloutsTrained = learner.RolloutsTrained,
            RolloutsPerS = learner.RolloutsTrained / seconds,
            TokensPerS = learner.TokensTrained / seconds,
            LearnerUtilisation = Math.Min(1, learner.BusySeconds / seconds),
            GeneratorUtilisation = Math.Min(1, gen.BusySeconds / (seconds * Math.Max(1, s.Generation.Generators))),
            Staleness = learner.Staleness,
            StalenessMean = staleCount > 0 ? learner.Staleness.Sum(kv => kv.Key * (double)kv.Value) / staleCount : 0,
            QueueDepths = queues,
            Coverage = coverage,
            InvalidSignals = learner.InvalidSignals,
            MaskedRollouts = learner.MaskedRollouts,
            Drops = drops,
            Failure = learner.Failure,
            ForeignPosts = foreignPosts,
        };
    }

    /// <summary>A source instance's seed: stable across processes (string.GetHashCode is not).</summary>
    internal static int SeedOf(long seed, string name, int stage)
    {
        var h = 2166136261u;
        foreach (var c in name) h = (h ^ c) * 16777619u;
        return unchecked((int)(h ^ (uint)(seed * 1000003) ^ (uint)(stage * 7919)));
    }
}
