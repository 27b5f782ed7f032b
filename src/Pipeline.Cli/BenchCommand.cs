using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Tokenization;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// Prints the figures recorded in docs/benchmarks.md: raw model compute (learner and sampler tokens/s), then a
/// full local run, from whose per-step timings it derives rollouts/s, the time split across stages and the
/// pipeline's own overhead (wall time of the GRPO stage not spent in model compute on the critical path).
/// </summary>
internal static class BenchCommand
{
    private static readonly Option<int> Repeats = new("--repeats")
    {
        Description = "Timed repetitions of each raw-compute measurement.",
        DefaultValueFactory = _ => 20,
    };

    public static Command Create()
    {
        var command = new Command("bench", "Measure learner and sampler tokens/s, then a local run's rollouts/s, stage timings and pipeline overhead.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Repeats,
        };
        command.SetAction((parse, ct) => RunAsync(parse, ct));
        command.Subcommands.Add(BenchRewardsCommand.Create());
        command.Subcommands.Add(BenchClusterCommand.Create());
        command.Subcommands.Add(BenchSoakCommand.Create());
        command.Subcommands.Add(BenchSqlCommand.Create());
        command.Subcommands.Add(BenchChaosCommand.Create());
        command.Subcommands.Add(BenchModelCommand.Create());
        command.Subcommands.Add(BenchWeightSyncCommand.Create());
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = CommonOptions.Load(parse);
        var repeats = parse.GetValue(Repeats);
        var runDir = Path.GetFullPath(Path.Combine(settings.RunDir, "bench__" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        Directory.CreateDirectory(runDir);
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; torch-threads {settings.TorchThreads}");

        // ---- raw compute, no actors ----
        using (var task = TaskCatalog.Create(settings, runDir))
        {
            var tokenizer = PolicyFactory.CreateTokenizer(settings.Policy, task);
            TorchRuntime.Configure(settings.TorchThreads);
            using var policy = PolicyFactory.From(settings.Policy, tokenizer, settings.Device).Create(settings.Seed);
            var sampler = new PolicySampler(policy, settings.Seed);
            var prompts = task.RlPrompts.Take(repeats).Select(p => tokenizer.EncodePrompt(p)).ToList();
            var sampling = new SamplingSettings(settings.Generation.Temperature, settings.Generation.TopP, settings.Generation.MaxTokens, [.. tokenizer.StopTokens]);

            sampler.SampleGroup(prompts[0], settings.Generation.GroupSize, sampling); // warm-up
            var sw = Stopwatch.StartNew();
            var sampledTokens = 0L;
            var groups = new List<(int[] Prompt, IReadOnlyList<SampledCompletion> Completions)>();
            foreach (var p in prompts)
            {
                var c = sampler.SampleGroup(p, settings.Generation.GroupSize, sampling);
                sampledTokens += c.Sum(x => x.Tokens.Length);
                groups.Add((p, c));
            }
            var sampleSeconds = sw.Elapsed.TotalSeconds;

            var g = settings.Grpo;
            using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: g.LearningRate, KlCoef: 0));
            var rng = new Random(settings.Seed);
            List<TrainSample> Batch() => groups.OrderBy(_ => rng.Next()).Take(g.BatchGroups)
                .SelectMany(x => x.Completions.Select(c => new TrainSample(x.Prompt, c.Tokens, c.LogProbs, rng.NextDouble() - 0.5, 0))).ToList();
            trainer.Step(Batch()); // warm-up
            sw.Restart();
            var trainedTokens = 0L;
            for (var i = 0; i < repeats; i++)
            {
                var batch = Batch();
                trainer.Step(batch);
                trainedTokens += batch.Sum(b => b.PromptTokens.Length + b.CompletionTokens.Length);
            }
            var trainSeconds = sw.Elapsed.TotalSeconds;

            var raw = new Table().Title("Raw model compute (no actors)").AddColumns("measurement", "value");
            raw.AddRow("policy parameters", policy.parameters().Sum(p => p.numel()).ToString("N0", CultureInfo.InvariantCulture));
            raw.AddRow($"sampling, groups of {settings.Generation.GroupSize}, KV cache", $"{sampledTokens / sampleSeconds:0} tokens/s ({groups.Count * settings.Generation.GroupSize / sampleSeconds:0.0} rollouts/s)");
            raw.AddRow($"GRPO step, {g.BatchGroups} groups", $"{trainedTokens / trainSeconds:0} tokens/s ({trainSeconds / repeats * 1000:0} ms/step)");
            AnsiConsole.Write(raw);
        }

        // ---- the pipeline: every role an actor ----
        var result = await LocalRun.RunAsync(settings, runDir, false, null, s => Console.WriteLine(s), ct);
        if (result.Status == RunStatus.Interrupted) return ExitCodes.Interrupted;
        if (result.Status != RunStatus.Completed)
        {
            Console.Error.WriteLine($"bench run did not complete: {result.Status} {result.Error}");
            return ExitCodes.Failed;
        }
        var steps = MetricsRecorder.ReadAll(Path.Combine(runDir, "metrics.jsonl")).Where(r => r.Data.ContainsKey("policy/version")).Skip(1).ToList();
        double Sum(string key) => steps.Sum(r => r.Data.TryGetValue(key, out var v) && double.IsFinite(v) ? v : 0);
        var wall = Sum("timing_s/step");
        var rollouts = steps.Sum(r => r.Data["throughput/rollouts_per_s"] * r.Data["timing_s/step"]);
        var tokens = steps.Sum(r => r.Data["throughput/tokens_per_s"] * r.Data["timing_s/step"]);
        var gen = Sum("timing_s/gen_total") / settings.Generation.Generators;
        var update = Sum("timing_s/update");
        var sync = Sum("timing_s/sync");
        var reward = steps.Sum(r => r.Data.GetValueOrDefault("timing_s/reward") * settings.Grpo.BatchGroups);
        // With staleness 0 the stages run one after another, so model compute on the critical path is gen + update + sync;
        // with staleness > 0 generation overlaps the update and this figure is an upper bound on overhead.
        var compute = settings.Grpo.MaxStaleness == 0 ? gen + update + sync : Math.Max(gen, update + sync);
        var table = new Table().Title($"Pipeline, GRPO stage ({steps.Count} steps after the first, eta = {settings.Grpo.MaxStaleness})").AddColumns("measurement", "value");
        table.AddRow("rollouts/s end to end", $"{rollouts / wall:0.0}");
        table.AddRow("completion tokens/s end to end", $"{tokens / wall:0}");
        table.AddRow("timing_s/gen (sum over groups / generators)", $"{gen:0.00} s ({gen / wall:P1} of wall)");
        table.AddRow("timing_s/reward (sum over groups, overlaps generation)", $"{reward:0.00} s");
        table.AddRow("timing_s/update", $"{update:0.00} s ({update / wall:P1})");
        table.AddRow("timing_s/sync (export + publish weights)", $"{sync:0.00} s ({sync / wall:P1})");
        table.AddRow("timing_s/wait (learner waiting for a batch)", $"{Sum("timing_s/wait"):0.00} s");
        table.AddRow("wall time of these steps", $"{wall:0.00} s");
        table.AddRow("[bold]pipeline overhead[/] (wall - model compute) / wall", $"{Math.Max(0, wall - compute) / wall:P1}");
        AnsiConsole.Write(table);
        Console.WriteLine($"run folder: {runDir}");
        return ExitCodes.Ok;
    }
}
