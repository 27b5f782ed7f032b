using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Rewards.Critic;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Rewards.Similarity;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Protocol;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline bench rewards</c>: the reward annotators' figures for docs/benchmarks.md, all in one process and one run:
/// similarity sentences/s raw vs through the annotation actor, critic client requests/s at several concurrencies against the
/// simulated judge, the critic's cache hit rate on the SQL task, and rollouts/s with no critic, an optional critic and a
/// required critic that is 10 times slower than the pipeline.
/// </summary>
internal static class BenchRewardsCommand
{
    private static readonly Option<int> Steps = new("--steps")
    {
        Description = "GRPO steps of each of the three side-by-side runs.",
        DefaultValueFactory = _ => 30,
    };

    private static readonly Option<double> Slowdown = new("--critic-slowdown")
    {
        Description = "How many times slower than the critic-free pipeline the simulated critic is made.",
        DefaultValueFactory = _ => 10,
    };

    public static Command Create()
    {
        var command = new Command("rewards", "Reward annotators: similarity vs raw ONNX Runtime, critic requests/s, cache hit rate, rollouts/s with a 10x slower critic.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Steps, Slowdown,
        };
        command.SetAction((parse, ct) => RunAsync(parse, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var steps = parse.GetValue(Steps);
        var slowdown = parse.GetValue(Slowdown);
        var settings = CommonOptions.Load(parse);
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");

        await SimilarityAsync();
        await CriticClientAsync();
        await SideBySideAsync(parse, settings, steps, slowdown, ct);
        return ExitCodes.Ok;
    }

    // ---- similarity: raw ONNX Runtime vs the reward vs the annotation actor, same batches ----
    private static async Task SimilarityAsync()
    {
        const int sentences = 512, batch = 16;
        var raw = SimilarityBenchmark.Run(sentences, batch);
        var groups = SimilarityBenchmark.Groups(sentences, batch);
        var options = new SimilarityOptions { BatchSize = batch, CacheEntries = 0 };
        using var reward = ContrastiveSimilarityReward.Create("similarity", options);
        var spec = new RewardSourceSpec("similarity", 1.0, Required: true, TimeSpan.FromSeconds(60));
        var system = ActorSystem.Create("bench-rewards", "akka.loglevel = WARNING");
        try
        {
            await ThroughActorAsync(system, reward, spec, groups.Take(2).ToList(), concurrent: false); // warm-up
            var sequential = await ThroughActorAsync(system, reward, spec, groups, concurrent: false);
            var concurrent = await ThroughActorAsync(system, reward, spec, groups, concurrent: true);
            var texts = groups.Sum(g => g.Rollouts.Length + 1);
            var table = new Table().Title($"Similarity ({raw.Model}, {raw.IntraOpThreads} intra-op thread, batches of {batch}, cache off)").AddColumns("path", "sentences/s", "vs raw");
            table.AddRow("raw ONNX Runtime (InferenceSession.Run, pre-tokenized)", $"{raw.RawSentencesPerSecond:0.0}", "100 %");
            table.AddRow("reward source ScoreAsync (tokenize, run, pool, score)", $"{raw.RewardSentencesPerSecond:0.0}", $"{raw.Ratio:P1}");
            table.AddRow("annotation actor, one group at a time", $"{texts / sequential.TotalSeconds:0.0}", $"{texts / sequential.TotalSeconds / raw.RawSentencesPerSecond:P1}");
            table.AddRow("annotation actor, groups concurrently (as in a run)", $"{texts / concurrent.TotalSeconds:0.0}", $"{texts / concurrent.TotalSeconds / raw.RawSentencesPerSecond:P1}");
            AnsiConsole.Write(table);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<TimeSpan> ThroughActorAsync(ActorSystem system, IRewardSource source, RewardSourceSpec spec,
        IReadOnlyList<RolloutGroup> groups, bool concurrent)
    {
        var inbox = Inbox.Create(system);
        var stage = system.ActorOf(AnnotationStage.Props([(source, spec)], inbox.Receiver, maxInFlight: groups.Count));
        var clock = Stopwatch.StartNew();
        var pending = 0;
        for (var i = 0; i < groups.Count; i++)
        {
            stage.Tell(new GeneratedGroup(i, groups[i], i));
            pending++;
            if (concurrent) continue;
            await Receive(inbox);
            pending--;
        }
        for (; pending > 0; pending--) await Receive(inbox);
        var elapsed = clock.Elapsed;
        system.Stop(stage);
        return elapsed;

        static async Task Receive(Inbox inbox)
        {
            var message = await inbox.ReceiveAsync(TimeSpan.FromSeconds(120));
            if (message is not AnnotatedGroup annotated || annotated.Rewards.Any(r => !r.Valid))
                throw new InvalidOperationException($"bench group not scored: {message}");
        }
    }

    // ---- critic client against the simulated judge ----
    private static async Task CriticClientAsync()
    {
        var results = await CriticBenchmark.RunAsync(2000, [1, 8, 64]);
        var table = new Table().Title("Critic client vs critic-sim on 127.0.0.1 (zero latency, cache off; client and server share the cores)")
            .AddColumns("concurrency", "requests/s", "p50 ms", "p99 ms");
        foreach (var r in results)
            table.AddRow(r.Concurrency.ToString(CultureInfo.InvariantCulture), $"{r.RequestsPerSecond:0}", $"{r.P50Ms:0.00}", $"{r.P99Ms:0.00}");
        AnsiConsole.Write(table);
    }

    // ---- rollouts/s: no critic, optional critic, required critic 10x slower ----
    private static async Task SideBySideAsync(ParseResult parse, PipelineSettings settings, int steps, double slowdown, CancellationToken ct)
    {
        var root = Path.GetFullPath(Path.Combine(settings.RunDir, "bench-rewards__" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        string[] common = [$"grpo.steps={steps}", "eval.every-steps=0", "eval.limit=1", "metrics.plots=off", "metrics.tensorboard=off"];

        var none = await MeasureAsync(parse, ct, Path.Combine(root, "no-critic"), [.. common, "rewards=execution"], null);
        var capacity = none.RolloutsPerSecond / slowdown; // the critic's own rate, rollouts (= judge calls) per second
        const int concurrency = 4;
        var latency = TimeSpan.FromSeconds(concurrency / capacity);
        Console.WriteLine($"no critic: {none.RolloutsPerSecond:0.0} rollouts/s; critic-sim set to {latency.TotalMilliseconds:0} ms per call x {concurrency} in flight = {capacity:0.0} calls/s ({slowdown}x slower)");

        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0", Latency = latency });
        string[] critic = [.. common, "rewards=execution,critic", $"rewards.critic.base-url=\"{judge.BaseUrl}\"",
            $"rewards.critic.concurrency={concurrency}", "rewards.critic.cache-entries=0", "rewards.sources.critic.deadline=60s"];
        var optional = await MeasureAsync(parse, ct, Path.Combine(root, "critic-optional"), [.. critic, "rewards.sources.critic.required=off"], "critic");
        var required = await MeasureAsync(parse, ct, Path.Combine(root, "critic-required"), [.. critic, "rewards.sources.critic.required=on"], "critic");
        Measured cached;
        await using (var instant = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0" }))
            cached = await MeasureAsync(parse, ct, Path.Combine(root, "critic-cache"),
                [.. common, "rewards=execution,critic", $"rewards.critic.base-url=\"{instant.BaseUrl}\"", "rewards.sources.critic.required=on"], "critic");

        var table = new Table().Title($"Rollouts/s side by side ({steps} GRPO steps each, first step excluded; critic {slowdown}x slower than the critic-free pipeline)")
            .AddColumns("run", "rollouts/s", "vs no critic", "vs critic's own rate", "critic signal in the batch", "critic answers / rollouts");
        table.AddRow("no critic", $"{none.RolloutsPerSecond:0.0}", "100 %", "", "");
        table.AddRow("critic optional (never holds a group)", $"{optional.RolloutsPerSecond:0.0}", $"{optional.RolloutsPerSecond / none.RolloutsPerSecond:P1}",
            "", $"{optional.LabelledFraction:P1}", $"{optional.Answered:P1}");
        table.AddRow("critic required (every group waits for it)", $"{required.RolloutsPerSecond:0.0}", $"{required.RolloutsPerSecond / none.RolloutsPerSecond:P1}",
            $"{required.RolloutsPerSecond / capacity:P1} of {capacity:0.0}", $"{required.LabelledFraction:P1}", $"{required.Answered:P1}");
        AnsiConsole.Write(table);
        Console.WriteLine($"critic response cache on the SQL task (required critic, cache on, {cached.Requests + cached.CacheHits:0} judge calls): hit rate {cached.CacheHitRate:P1}");
        Console.WriteLine($"run folders: {root}");
    }

    private sealed record Measured(double RolloutsPerSecond, double LabelledFraction, double CacheHitRate, double CacheHits, double Requests, double Answered = double.NaN);

    private static async Task<Measured> MeasureAsync(ParseResult parse, CancellationToken ct, string runDir, string[] overrides, string? critic)
    {
        var settings = CommonOptions.Load(parse, overrides);
        var reports = new List<MetricsReport>();
        var result = await LocalRun.RunAsync(settings, runDir, false, r => { lock (reports) reports.Add(r); }, null, ct);
        if (result.Status == RunStatus.Interrupted) throw new OperationCanceledException($"bench run {runDir} interrupted");
        if (result.Status != RunStatus.Completed) throw new InvalidOperationException($"bench run {runDir}: {result.Status} {result.Error}");
        var steps = reports.Where(r => r.Data.ContainsKey("policy/version")).Skip(1).ToList();
        var rollouts = steps.Sum(r => r.Data["rollouts/count"]);
        var wall = steps.Sum(r => r.Data["timing_s/step"]);
        if (critic is null) return new Measured(rollouts / wall, double.NaN, double.NaN, 0, 0);
        var labelled = steps.Sum(r => r.Data["rollouts/count"] - r.Data[$"reward/{critic}/invalid_count"]);
        var last = steps[^1].Data;
        var hits = last.GetValueOrDefault($"critic/{critic}/cache_hits");
        var requests = last.GetValueOrDefault($"critic/{critic}/requests");
        var answered = last.GetValueOrDefault($"critic/{critic}/successes") + hits;
        var allRollouts = reports.Where(r => r.Data.ContainsKey("policy/version")).Sum(r => r.Data["rollouts/count"]);
        return new Measured(rollouts / wall, labelled / rollouts, hits + requests > 0 ? hits / (hits + requests) : double.NaN, hits, requests,
            answered / allRollouts);
    }
}
