using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline bench model</c>: a random Llama-shaped Hugging Face folder of a named size, written to a temp folder, then
/// (a) its load time and peak RSS in a fresh child process, (b) sampling tokens/s through <see cref="PolicySampler"/>
/// (a group sharing one prompt, KV cache), (c) GRPO step tokens/s through <see cref="GrpoTrainer"/> with a KL reference,
/// (d) a plain libtorch fp32 matmul's GFLOP/s and (e) the GRPO step's achieved GFLOP/s against it, all in one command.
/// With <c>--lora</c>, (c) to (e) give way to full fine-tuning against LoRA: the same sampled batch trained once each in
/// a fresh child process (so each peak RSS is that configuration's alone), side by side with their ratios.
/// </summary>
internal static class BenchModelCommand
{
    /// <summary>A Llama-shaped configuration the bench can write; GQA with half as many KV heads as query heads.</summary>
    internal sealed record Shape(string Name, int Vocab, int Hidden, int Intermediate, int Layers, int Heads, int KvHeads);

    internal static readonly Shape[] Shapes =
    [
        new("tiny", 256, 64, 160, 2, 4, 2),
        new("25m", 8192, 512, 1376, 6, 8, 4),
        new("125m", 32000, 768, 2048, 12, 12, 4),
    ];

    private static readonly Option<string> Size = new("--size")
    {
        Description = "Model shape: tiny (a smoke test), 25m (hidden 512, 6 layers, vocab 8192) or 125m (hidden 768, 12 layers, vocab 32000).",
        DefaultValueFactory = _ => "25m",
    };
    private static readonly Option<string> Dtype = new("--dtype")
    {
        Description = "Dtype of the weights on disk: f32 or bf16 (the model computes in float32 either way).",
        DefaultValueFactory = _ => "f32",
    };
    private static readonly Option<int> PromptLength = new("--prompt") { Description = "Prompt tokens per sequence.", DefaultValueFactory = _ => 64 };
    private static readonly Option<int> NewTokens = new("--new-tokens") { Description = "Completion tokens per sequence (no stop token: every row runs to this length).", DefaultValueFactory = _ => 64 };
    private static readonly Option<int> Group = new("--group") { Description = "Completions per prompt (a GRPO group).", DefaultValueFactory = _ => 8 };
    private static readonly Option<int> Groups = new("--groups") { Description = "Groups per GRPO step.", DefaultValueFactory = _ => 2 };
    private static readonly Option<int> Repeats = new("--repeats") { Description = "Timed repetitions of each measurement after one warm-up.", DefaultValueFactory = _ => 3 };
    private static readonly Option<int> Threads = new("--threads") { Description = "torch intra-op threads for every measurement (default: the configuration's pipeline.torch-threads).", DefaultValueFactory = _ => 0 };
    private static readonly Option<int> MatmulSize = new("--matmul") { Description = "N of the N x N x N fp32 matmul that measures the CPU's peak.", DefaultValueFactory = _ => 2048 };
    private static readonly Option<bool> Lora = new("--lora")
    {
        Description = "Compare full fine-tuning with LoRA: a GRPO step of each on the same batch, each in a fresh child process (tokens/s, peak RSS, AdamW state, trainable parameters, LoRA / full).",
    };
    private static readonly Option<int> LoraRank = new("--lora-rank") { Description = "LoRA rank r with --lora.", DefaultValueFactory = _ => 16 };
    private static readonly Option<string> LoraTargets = new("--lora-targets")
    {
        Description = "LoRA target modules with --lora: all-linear, or a comma list of projections (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).",
        DefaultValueFactory = _ => LoraAdapterConfig.AllLinear,
    };
    // The child process's mode: load this folder once and print its figures (a fresh process gives a clean peak RSS).
    private static readonly Option<string?> LoadChild = new("--load-child") { Hidden = true };
    // The child process's mode for --lora: GRPO steps on this folder's saved batch, full or (with --lora) LoRA.
    private static readonly Option<string?> GrpoChild = new("--grpo-child") { Hidden = true };

    private static readonly TimeSpan ChildDeadline = TimeSpan.FromMinutes(10);
    // A 125m full step takes tens of seconds on a loaded 2-core machine; warm-up plus repeats must fit.
    private static readonly TimeSpan GrpoChildDeadline = TimeSpan.FromMinutes(30);
    private const string BatchFile = "bench-batch.json";

    public static Command Create()
    {
        var command = new Command("model", "A random Llama-shaped HF model of a named size: load time and peak RSS, sampling and GRPO tokens/s, GRPO GFLOP/s against a plain fp32 matmul's.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir,
            Size, Dtype, PromptLength, NewTokens, Group, Groups, Repeats, Threads, MatmulSize, Lora, LoraRank, LoraTargets, LoadChild, GrpoChild,
        };
        command.SetAction((parse, ct) => Task.FromResult(
            parse.GetValue(LoadChild) is { } folder ? RunLoadChild(folder, parse.GetValue(Threads))
            : parse.GetValue(GrpoChild) is { } grpoFolder ? RunGrpoChild(grpoFolder, parse)
            : Run(parse, ct)));
        return command;
    }

    private static int Run(ParseResult parse, CancellationToken ct)
    {
        var sizeName = parse.GetValue(Size)!;
        var shape = Shapes.FirstOrDefault(s => s.Name == sizeName)
                    ?? throw new ConfigException($"--size '{sizeName}' is not known (known: {string.Join(", ", Shapes.Select(s => s.Name))})");
        var dtype = parse.GetValue(Dtype) switch
        {
            "f32" => "F32",
            "bf16" => "BF16",
            var d => throw new ConfigException($"--dtype '{d}' is not known (known: f32, bf16)"),
        };
        var promptLength = Positive(parse, PromptLength);
        var newTokens = Positive(parse, NewTokens);
        var group = Positive(parse, Group);
        var groups = Positive(parse, Groups);
        var repeats = Positive(parse, Repeats);
        var matmulN = Positive(parse, MatmulSize);
        var threads = parse.GetValue(Threads);
        if (threads < 0) throw new ConfigException($"--threads must be positive, got {threads}");
        if (threads == 0) threads = CommonOptions.Load(parse).TorchThreads;
        var lora = parse.GetValue(Lora) ? LoraConfigOf(parse) : null;
        TorchRuntime.Configure(threads);
        var config = ConfigOf(shape, promptLength + newTokens);

        var rows = new List<(string Measurement, string Value)>();
        void Row(string m, string v)
        {
            rows.Add((m, v));
            Console.WriteLine($"  {m}: {v}");
        }
        void PrintTable()
        {
            Console.WriteLine();
            Console.WriteLine("| measurement | value |");
            Console.WriteLine("|---|---|");
            foreach (var (m, v) in rows) Console.WriteLine($"| {m} | {v} |");
        }
        Console.WriteLine($"machine: {CpuModel()}, {Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()}, load average at start {LoadAverage()}");

        var dir = Directory.CreateTempSubdirectory($"pipeline-bench-model-{shape.Name}-").FullName;
        try
        {
            var clock = Stopwatch.StartNew();
            WriteRandomFolder(dir, config, dtype, seed: 7);
            var fileBytes = new FileInfo(Path.Combine(dir, HfCheckpoint.SingleFile)).Length;
            Row("model", $"{shape.Name}: vocab {shape.Vocab}, hidden {shape.Hidden}, intermediate {shape.Intermediate}, {shape.Layers} layers, {shape.Heads} heads / {shape.KvHeads} KV heads, untied head");
            Row($"write random folder ({dtype}, streamed)", $"{clock.Elapsed.TotalSeconds:0.00} s, {fileBytes / 1048576.0:0.0} MiB");

            // (a) load in a fresh process of this binary: its peak RSS is the loader's alone.
            var load = LoadInChild(dir, threads);
            var policy = LlamaForCausalLM.FromPretrained(dir);
            using var ownsPolicy = policy;
            var parameters = policy.parameters().Sum(p => p.numel());
            var fp32Bytes = parameters * 4L;
            Row("parameters", parameters.ToString("N0", CultureInfo.InvariantCulture));
            Row("fp32 model size", $"{fp32Bytes / 1048576.0:0.0} MiB");
            Row("load time (FromPretrained, child process)", $"{load.Seconds:0.000} s");
            Row("constructing the module with random init (FromPretrained skips it)", $"{load.ConstructSeconds:0.000} s");
            Row("peak RSS increase while loading", load.PeakIncreaseBytes >= 0
                ? $"{load.PeakIncreaseBytes / 1048576.0:0.0} MiB = {(double)load.PeakIncreaseBytes / fp32Bytes:0.00}x the fp32 model"
                : "n/a (no /proc/self/status)");

            var peakBefore = MatmulGflops(matmulN, repeats + 2);

            // (b) sampling: one prompt, a group sharing its prefill, KV cache, no stop token.
            var rng = new Random(11);
            int[] Prompt() => Enumerable.Range(0, promptLength).Select(_ => rng.Next(3, shape.Vocab)).ToArray();
            var sampler = new PolicySampler(policy, 5);
            var sampling = new SamplingSettings(1.0, 1.0, newTokens, []);
            var samples = new List<(int[] Prompt, IReadOnlyList<SampledCompletion> Completions)>();
            sampler.SampleGroup(Prompt(), group, sampling); // warm-up
            clock.Restart();
            long sampled = 0;
            for (var i = 0; i < Math.Max(repeats, groups); i++)
            {
                ct.ThrowIfCancellationRequested();
                var p = Prompt();
                var c = sampler.SampleGroup(p, group, sampling);
                sampled += c.Sum(x => x.Tokens.Length);
                samples.Add((p, c));
            }
            var sampleSeconds = clock.Elapsed.TotalSeconds;
            Row($"sampling, group of {group}, prompt {promptLength}, {newTokens} new tokens, KV cache", $"{sampled / sampleSeconds:0.0} tokens/s ({samples.Count} groups in {sampleSeconds:0.00} s)");

            if (lora is not null)
            {
                var loraBatch = samples.Take(groups).SelectMany(g => g.Completions.Select(c =>
                    new TrainSample(g.Prompt, c.Tokens, c.LogProbs, rng.NextDouble() - 0.5, 0))).ToList();
                WriteBatch(Path.Combine(dir, BatchFile), loraBatch);
                // The children load their own copies; this one would only crowd the machine while they run.
                ownsPolicy.Dispose();
                var title = $"GRPO step, {groups} groups x {group} x ({promptLength} + {newTokens}), KL on, each configuration in a fresh child process";
                CompareLora(dir, threads, repeats, lora, parameters, title);
                PrintTable();
                return ExitCodes.Ok;
            }

            // (c) GRPO: the product's trainer, KL on against a separately loaded reference.
            using var reference = LlamaForCausalLM.FromPretrained(dir);
            var batch = samples.Take(groups).SelectMany(g => g.Completions.Select(c =>
                new TrainSample(g.Prompt, c.Tokens, c.LogProbs, rng.NextDouble() - 0.5, 0))).ToList();
            var grpoSettings = new GrpoSettings(LearningRate: 1e-5, KlCoef: 0.02);
            using var trainer = new GrpoTrainer(policy, reference, grpoSettings);
            trainer.Step(batch); // warm-up
            var stepSeconds = new List<double>();
            var stepCpuSeconds = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                ct.ThrowIfCancellationRequested();
                var cpu = CpuSeconds();
                clock.Restart();
                var stats = trainer.Step(batch);
                stepSeconds.Add(clock.Elapsed.TotalSeconds);
                stepCpuSeconds.Add(CpuSeconds() - cpu);
                if (stats.Skipped) throw new InvalidOperationException($"the GRPO step was skipped: {stats.SkipReason}");
            }
            var peakAfter = MatmulGflops(matmulN, repeats + 2);

            var seqTokens = batch.Sum(b => b.PromptTokens.Length + b.CompletionTokens.Length);
            var completionTokens = batch.Sum(b => b.CompletionTokens.Length);
            var flops = GrpoStepFlops(config, batch.Count, promptLength + newTokens - 1, completionTokens, grpoSettings);
            var best = stepSeconds.Min();
            var median = stepSeconds.Order().ElementAt(stepSeconds.Count / 2);
            Row($"GRPO step, {groups} groups x {group} x ({promptLength} + {newTokens}), KL on", $"{seqTokens / best:0.0} tokens/s ({completionTokens / best:0.0} completion tokens/s); step {best:0.000} s best, {median:0.000} s median of {repeats}");
            Row("GRPO step FLOPs (policy fwd+bwd, reference fwd, attention)", $"{flops / 1e9:0.000} GFLOP");
            var bestCpu = stepCpuSeconds.Min();
            // A step shorter than MinTiming (the tiny shape) has no meaningful CPU-time figure.
            var cpuMeasured = bestCpu >= MinTiming.TotalSeconds;
            Row("GRPO achieved", $"{flops / best / 1e9:0.0} GFLOP/s (best step), {flops / median / 1e9:0.0} GFLOP/s (median); "
                + (cpuMeasured ? $"{flops / bestCpu / 1e9:0.0} GFLOP per CPU-second" : "per CPU-second n/a (step too short)"));
            var peak = Math.Max(peakBefore.Best, peakAfter.Best);
            var peakCpu = Math.Max(peakBefore.BestCpu, peakAfter.BestCpu);
            Row($"fp32 matmul {matmulN}^3 (before / after GRPO)", $"{peakBefore.Best:0.0} / {peakAfter.Best:0.0} GFLOP/s best, {peakBefore.Median:0.0} / {peakAfter.Median:0.0} median; {peakCpu:0.0} GFLOP per CPU-second");
            Row("[ratio] GRPO / matmul peak", $"{flops / best / 1e9 / peak:P1} (best step against the higher best matmul)");
            // Other processes on the same cores stretch wall time, not the CPU time this process is given.
            Row("[ratio] GRPO / matmul peak, per CPU-second", cpuMeasured ? $"{flops / bestCpu / 1e9 / peakCpu:P1}" : "n/a (step too short)");
            var hwm = ProcStatusBytes("VmHWM");
            Row("peak RSS of this process (policy, reference, AdamW state, GRPO step)", hwm >= 0 ? $"{hwm / 1048576.0:0} MiB" : "n/a (no /proc/self/status)");
            Console.WriteLine($"load average at end {LoadAverage()}");
            PrintTable();
            return ExitCodes.Ok;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>The LoRA configuration of <c>--lora-rank</c> and <c>--lora-targets</c> (alpha = 2r; the scaling does not change the cost).</summary>
    private static LoraAdapterConfig LoraConfigOf(ParseResult parse)
    {
        var rank = Positive(parse, LoraRank);
        var targets = parse.GetValue(LoraTargets)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (targets.Length == 0) throw new ConfigException("--lora-targets is empty (all-linear, or a comma list such as q_proj,v_proj)");
        var unknown = targets.Where(t => t != LoraAdapterConfig.AllLinear && !LlamaForCausalLM.Projections.Contains(t)).ToList();
        if (unknown.Count > 0)
            throw new ConfigException($"--lora-targets: {string.Join(", ", unknown)} name(s) no projection (known: {string.Join(", ", LlamaForCausalLM.Projections)}, or all-linear)");
        var allLinear = targets.Contains(LoraAdapterConfig.AllLinear);
        if (allLinear && targets.Length > 1)
            throw new ConfigException($"--lora-targets {string.Join(",", targets)}: all-linear stands alone (it already names every projection)");
        return new LoraAdapterConfig(rank, 2.0 * rank, 0.0, targets) { TargetIsPattern = allLinear };
    }

    private static string TargetsText(LoraAdapterConfig c) => string.Join(",", c.TargetModules);

    /// <summary>One configuration's figures, as its GRPO child process printed them.</summary>
    internal sealed record GrpoFigures(
        long Parameters, long Trainable, long ReferenceParameters, long Tokens, double BestSeconds, double MedianSeconds,
        double BestCpuSeconds, long OptimizerStateBytes, long BaselineRssBytes, long LoadedRssBytes, long PeakRssBytes)
    {
        /// <summary>fp32 bytes the parameters need: policy weights, the KL reference's own weights, gradients and AdamW's two moments.</summary>
        public long ParameterBytes => 4 * (Parameters + ReferenceParameters + Trainable) + OptimizerStateBytes;
    }

    private static void CompareLora(string dir, int threads, int repeats, LoraAdapterConfig lora, long parameters, string title)
    {
        Console.WriteLine($"{title}: full fine-tuning (its KL reference a second model copy), then LoRA r {lora.Rank} on {TargetsText(lora)} (its KL reference the same model with adapters off)");
        Console.WriteLine($"  full: running (load average {LoadAverage()})");
        var full = GrpoInChild(dir, threads, repeats, null);
        Console.WriteLine($"  LoRA: running (load average {LoadAverage()})");
        var adapted = GrpoInChild(dir, threads, repeats, lora);
        Console.WriteLine($"load average at end {LoadAverage()}");
        Console.WriteLine();
        string MiB(long bytes) => bytes < 0 ? "n/a" : $"{bytes / 1048576.0:0.0} MiB";
        // Exact bytes beside MiB: small adapters round to 0.0 MiB.
        string Bytes(long bytes) => $"{MiB(bytes)} ({bytes.ToString("N0", CultureInfo.InvariantCulture)} B)";
        string Cells(GrpoFigures f) => string.Join(" | ",
            $"{f.Tokens / f.BestSeconds:0.0}", $"{f.BestSeconds:0.000} / {f.MedianSeconds:0.000}",
            f.BestCpuSeconds >= MinTiming.TotalSeconds ? $"{f.Tokens / f.BestCpuSeconds:0.0}" : "n/a (step too short)",
            f.Trainable.ToString("N0", CultureInfo.InvariantCulture), Bytes(f.OptimizerStateBytes),
            Bytes(f.ParameterBytes), MiB(f.LoadedRssBytes), MiB(f.PeakRssBytes));
        static string Ratio(double lora, double full) => full > 0 && lora >= 0 ? $"{lora / full:0.000}x" : "n/a";
        Console.WriteLine("| configuration | GRPO step tokens/s | step s, best / median | tokens per CPU-second | trainable parameters | AdamW state | parameter memory (weights + KL reference + gradients + AdamW) | RSS before the steps | peak RSS during the steps |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        Console.WriteLine($"| full (KL reference: a second model copy) | {Cells(full)} |");
        Console.WriteLine($"| LoRA r {lora.Rank} {TargetsText(lora)} (KL reference: the base, adapters off) | {Cells(adapted)} |");
        var cpuRatio = full.BestCpuSeconds >= MinTiming.TotalSeconds && adapted.BestCpuSeconds >= MinTiming.TotalSeconds
            ? Ratio(adapted.Tokens / adapted.BestCpuSeconds, full.Tokens / full.BestCpuSeconds) : "n/a";
        Console.WriteLine("| [ratio] LoRA / full | " + string.Join(" | ",
            Ratio(adapted.Tokens / adapted.BestSeconds, full.Tokens / full.BestSeconds), Ratio(adapted.BestSeconds, full.BestSeconds), cpuRatio,
            Ratio(adapted.Trainable, full.Trainable), Ratio(adapted.OptimizerStateBytes, full.OptimizerStateBytes),
            Ratio(adapted.ParameterBytes, full.ParameterBytes), Ratio(adapted.LoadedRssBytes, full.LoadedRssBytes),
            Ratio(adapted.PeakRssBytes, full.PeakRssBytes)) + " |");
        Console.WriteLine();
        Console.WriteLine($"Base parameters {parameters.ToString("N0", CultureInfo.InvariantCulture)}. Tokens/s count prompt and completion tokens of the batch over the best step; CPU-seconds are the child's, all threads.");
        Console.WriteLine("AdamW state is measured from the optimizer's own tensors (exp_avg, exp_avg_sq: 2 x trainable x 4 bytes); parameter memory is computed, fp32: policy weights (adapters included),");
        Console.WriteLine("the KL reference's weights (full: a second copy; LoRA: none, the base with adapters off), gradients of the trainable parameters and the AdamW state.");
        Console.WriteLine($"RSS is the whole child process's resident memory (runtime and libtorch included: {MiB(full.BaselineRssBytes)} before any model in the full child, {MiB(adapted.BaselineRssBytes)} in the LoRA child), before the first step and at its peak over the warm-up and timed steps.");
    }

    private static GrpoFigures GrpoInChild(string folder, int threads, int repeats, LoraAdapterConfig? lora)
    {
        var args = new List<string> { "bench", "model", "--grpo-child", folder, "--threads", Text(threads), "--repeats", Text(repeats) };
        if (lora is not null) args.AddRange(["--lora", "--lora-rank", Text(lora.Rank), "--lora-targets", TargetsText(lora)]);
        var fields = RunChild(args, "grpo-figures ", GrpoChildDeadline);
        long L(string k) => long.Parse(fields[k], CultureInfo.InvariantCulture);
        double D(string k) => double.Parse(fields[k], CultureInfo.InvariantCulture);
        return new GrpoFigures(L("parameters"), L("trainable"), L("reference-parameters"), L("tokens"), D("best-seconds"), D("median-seconds"),
            D("best-cpu-seconds"), L("optimizer-state-bytes"), L("baseline-rss-bytes"), L("loaded-rss-bytes"), L("peak-rss-bytes"));
    }

    private static int RunGrpoChild(string folder, ParseResult parse)
    {
        var repeats = Positive(parse, Repeats);
        var lora = parse.GetValue(Lora) ? LoraConfigOf(parse) : null;
        TorchRuntime.Configure(parse.GetValue(Threads));
        using (ones(1).Add(1)) { } // libtorch and its allocator are loaded before the baseline
        var batch = ReadBatch(Path.Combine(folder, BatchFile));
        GC.Collect();
        var baseline = ProcStatusBytes("VmRSS");
        using var policy = LlamaForCausalLM.FromPretrained(folder);
        if (lora is not null) LoraAdapters.Attach(policy, lora, seed: 13, source: "--lora-targets");
        // Full fine-tuning needs a frozen copy for KL; a LoRA policy is its own reference (adapters off = the base).
        using var separateReference = lora is null ? LlamaForCausalLM.FromPretrained(folder) : null;
        var reference = separateReference ?? policy;
        using var trainer = new GrpoTrainer(policy, reference, new GrpoSettings(LearningRate: 1e-5, KlCoef: 0.02));
        GC.Collect();
        var loaded = ProcStatusBytes("VmRSS");
        ResetPeakRss();
        var seconds = new List<double>();
        var cpuSeconds = new List<double>();
        for (var i = 0; i <= repeats; i++) // step 0 is the warm-up
        {
            var cpu = CpuSeconds();
            var clock = Stopwatch.StartNew();
            var stats = trainer.Step(batch);
            if (stats.Skipped) throw new InvalidOperationException($"the GRPO step was skipped: {stats.SkipReason}");
            if (i == 0) continue;
            seconds.Add(clock.Elapsed.TotalSeconds);
            cpuSeconds.Add(CpuSeconds() - cpu);
        }
        var peak = ProcStatusBytes("VmHWM");
        var optimizerBytes = ((TorchSharp.Modules.OptimizerHelper)trainer.Optimizer).state_dict().State.OfType<TorchSharp.Modules.AdamW.State>()
            .Sum(s => new[] { s.exp_avg, s.exp_avg_sq, s.max_exp_avg_sq }.Where(t => t is not null && !t.IsInvalid).Sum(t => t!.NumberOfElements * t.ElementSize));
        var figures = new Dictionary<string, string>
        {
            ["parameters"] = Text(policy.parameters().Sum(p => p.numel())),
            ["trainable"] = Text(policy.TrainableParameters().Sum(p => p.numel())),
            ["reference-parameters"] = Text(separateReference?.parameters().Sum(p => p.numel()) ?? 0),
            ["tokens"] = Text(batch.Sum(b => (long)b.PromptTokens.Length + b.CompletionTokens.Length)),
            ["best-seconds"] = seconds.Min().ToString("0.00000", CultureInfo.InvariantCulture),
            ["median-seconds"] = seconds.Order().ElementAt(seconds.Count / 2).ToString("0.00000", CultureInfo.InvariantCulture),
            ["best-cpu-seconds"] = cpuSeconds.Min().ToString("0.00000", CultureInfo.InvariantCulture),
            ["optimizer-state-bytes"] = Text(optimizerBytes),
            ["baseline-rss-bytes"] = Text(baseline),
            ["loaded-rss-bytes"] = Text(loaded),
            ["peak-rss-bytes"] = Text(peak),
        };
        Console.WriteLine("grpo-figures " + string.Join(' ', figures.Select(kv => $"{kv.Key}={kv.Value}")));
        return ExitCodes.Ok;
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed record BatchRow(int[] Prompt, int[] Completion, float[] LogProbs, double Advantage);

    private static void WriteBatch(string path, IEnumerable<TrainSample> batch)
        => File.WriteAllText(path, JsonSerializer.Serialize(batch.Select(b => new BatchRow(b.PromptTokens, b.CompletionTokens, b.BehaviourLogProbs, b.Advantage))));

    private static List<TrainSample> ReadBatch(string path)
        => (JsonSerializer.Deserialize<List<BatchRow>>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path} holds no batch"))
            .Select(r => new TrainSample(r.Prompt, r.Completion, r.LogProbs, r.Advantage, 0)).ToList();

    private static int Positive(ParseResult parse, Option<int> option)
    {
        var v = parse.GetValue(option);
        return v > 0 ? v : throw new ConfigException($"{option.Name} must be positive, got {v}");
    }

    internal static LlamaConfig ConfigOf(Shape s, int context) => new(
        VocabSize: s.Vocab, HiddenSize: s.Hidden, IntermediateSize: s.Intermediate, NumHiddenLayers: s.Layers,
        NumAttentionHeads: s.Heads, NumKeyValueHeads: s.KvHeads, HeadDim: s.Hidden / s.Heads,
        MaxPositionEmbeddings: Math.Max(2048, context), RmsNormEps: 1e-5, Rope: new RopeSettings(10000.0),
        TieWordEmbeddings: false, BosTokenId: 1, EosTokenIds: [2]);

    /// <summary>
    /// config.json and model.safetensors of a random model with HF's initialisation (normal, std 0.02; norms 1), each
    /// tensor made only when the writer reaches it, so the folder is written without the model in memory.
    /// </summary>
    internal static void WriteRandomFolder(string dir, LlamaConfig c, string dtype, long seed)
    {
        var json = new Dictionary<string, object>
        {
            ["architectures"] = new[] { "LlamaForCausalLM" }, ["model_type"] = "llama", ["hidden_act"] = "silu",
            ["vocab_size"] = c.VocabSize, ["hidden_size"] = c.HiddenSize, ["intermediate_size"] = c.IntermediateSize,
            ["num_hidden_layers"] = c.NumHiddenLayers, ["num_attention_heads"] = c.NumAttentionHeads,
            ["num_key_value_heads"] = c.NumKeyValueHeads, ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["rms_norm_eps"] = c.RmsNormEps, ["rope_theta"] = c.Rope.Theta, ["tie_word_embeddings"] = false,
            ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["torch_dtype"] = dtype == "F32" ? "float32" : "bfloat16",
        };
        File.WriteAllText(Path.Combine(dir, LlamaConfig.FileName), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));

        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, f = c.IntermediateSize;
        var layout = new List<(string Name, long[] Shape)> { ("model.embed_tokens.weight", [c.VocabSize, d]) };
        for (var l = 0; l < c.NumHiddenLayers; l++)
        {
            var p = $"model.layers.{l}.";
            layout.Add((p + "input_layernorm.weight", [d]));
            layout.Add((p + "self_attn.q_proj.weight", [q, d]));
            layout.Add((p + "self_attn.k_proj.weight", [kv, d]));
            layout.Add((p + "self_attn.v_proj.weight", [kv, d]));
            layout.Add((p + "self_attn.o_proj.weight", [d, q]));
            layout.Add((p + "post_attention_layernorm.weight", [d]));
            layout.Add((p + "mlp.gate_proj.weight", [f, d]));
            layout.Add((p + "mlp.up_proj.weight", [f, d]));
            layout.Add((p + "mlp.down_proj.weight", [d, f]));
        }
        layout.Add(("model.norm.weight", [d]));
        layout.Add(("lm_head.weight", [c.VocabSize, d]));

        using var generator = new Generator((ulong)seed);
        SafetensorsWriter.Write(Path.Combine(dir, HfCheckpoint.SingleFile), layout, k =>
        {
            using var scope = NewDisposeScope();
            var (name, shape) = layout[k];
            var values = name.EndsWith("norm.weight", StringComparison.Ordinal) ? ones(shape) : randn(shape, generator: generator).Mul_(0.02);
            return values.data<float>().ToArray();
        }, dtype);
    }

    /// <summary>
    /// FLOPs of one <see cref="GrpoTrainer.Step"/> as it runs them: every sequence through the decoder (inputs are
    /// seq[:, :-1], <paramref name="inputLength"/> positions per row), the LM head on completion positions only; the
    /// policy forward and backward (backward = 2x forward), the reference forward when KL is on, and pi_prox's extra
    /// forward when there is more than one epoch or minibatch. Attention counts the causal half: QK^T and AV, 2 FLOPs
    /// per multiply-add. Element-wise work (norms, softmax, AdamW) is not counted.
    /// </summary>
    internal static double GrpoStepFlops(LlamaConfig c, int rows, int inputLength, int completionTokens, GrpoSettings s)
    {
        double d = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, f = c.IntermediateSize;
        var linearPerLayer = d * q * 2 + d * kv * 2 + 3 * d * f; // q, o; k, v; gate, up, down
        double positions = (double)rows * inputLength;
        var t = (double)inputLength;
        var attention = c.NumHiddenLayers * rows * 2.0 * q * t * (t + 1); // 2 matmuls x 2 FLOPs x T(T+1)/2 pairs x q
        var forward = 2 * linearPerLayer * c.NumHiddenLayers * positions + 2.0 * c.VocabSize * d * completionTokens + attention;
        var passes = 3.0 * s.Epochs + (s.KlCoef != 0 ? 1 : 0) + (s.Epochs == 1 && s.MiniBatches == 1 ? 0 : 1);
        return passes * forward;
    }

    /// <summary>GFLOP/s of a plain fp32 N^3 matmul on the configured torch threads: best and median of <paramref name="reps"/> after one warm-up.</summary>
    private static readonly TimeSpan MinTiming = TimeSpan.FromSeconds(0.25);

    internal static (double Best, double Median, double BestCpu) MatmulGflops(int n, int reps)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var a = randn(n, n);
        var b = randn(n, n);
        a.matmul(b).Dispose();
        var rates = new List<double>();
        var cpuRates = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            var cpu = CpuSeconds();
            var clock = Stopwatch.StartNew();
            // Products until a timing lasts MinTiming: the kernel updates a running thread's CPU time only every few ms.
            var k = 0;
            do
            {
                a.matmul(b).Dispose();
                k++;
            }
            while (clock.Elapsed < MinTiming);
            rates.Add(k * 2.0 * n * n * n / clock.Elapsed.TotalSeconds / 1e9);
            cpuRates.Add(k * 2.0 * n * n * n / (CpuSeconds() - cpu) / 1e9);
        }
        return (rates.Max(), rates.Order().ElementAt(rates.Count / 2), cpuRates.Max());
    }

    /// <summary>CPU time this process has used, all threads (libtorch's included).</summary>
    private static double CpuSeconds()
    {
        // Linux counts each thread's run time in nanoseconds here; TotalProcessorTime only in 10 ms ticks.
        const string tasks = "/proc/self/task";
        if (Directory.Exists(tasks))
        {
            long nanoseconds = 0;
            foreach (var task in Directory.EnumerateDirectories(tasks))
            {
                try { nanoseconds += long.Parse(File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ')[0], CultureInfo.InvariantCulture); }
                catch (IOException) { } // the thread ended while we read
            }
            if (nanoseconds > 0) return nanoseconds / 1e9;
        }
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalSeconds;
    }

    private sealed record LoadFigures(double Seconds, double ConstructSeconds, long PeakIncreaseBytes);

    private static LoadFigures LoadInChild(string folder, int threads)
    {
        var fields = RunChild(["bench", "model", "--load-child", folder, "--threads", Text(threads)], "load-figures ", ChildDeadline);
        return new LoadFigures(double.Parse(fields["seconds"], CultureInfo.InvariantCulture),
            double.Parse(fields["construct-seconds"], CultureInfo.InvariantCulture),
            long.Parse(fields["peak-increase-bytes"], CultureInfo.InvariantCulture));
    }

    /// <summary>Runs this binary with <paramref name="args"/> and returns the key=value fields of its line starting with <paramref name="prefix"/>.</summary>
    private static Dictionary<string, string> RunChild(IReadOnlyList<string> args, string prefix, TimeSpan deadline)
    {
        // The apphost when this is it (`pipeline ...`), else `dotnet pipeline.dll` (under `dotnet pipeline.dll` or a test host).
        var self = Environment.ProcessPath;
        var apphost = self is not null && Path.GetFileNameWithoutExtension(self) == "pipeline";
        var start = new ProcessStartInfo(apphost ? self! : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!apphost) start.ArgumentList.Add(typeof(BenchModelCommand).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        var what = $"the child process `{string.Join(' ', args.Take(4))}`";
        if (!child.WaitForExit(deadline))
        {
            child.Kill(entireProcessTree: true);
            throw new TimeoutException($"{what} did not finish within {deadline}");
        }
        var line = stdout.Result.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        if (child.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"{what} exited {child.ExitCode} without its figures: {stderr.Result}{stdout.Result}");
        return line[prefix.Length..].Trim().Split(' ').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
    }

    private static int RunLoadChild(string folder, int threads)
    {
        TorchRuntime.Configure(threads);
        using (ones(1).Add(1)) { } // libtorch and its allocator are loaded before the baseline
        var config = LlamaConfig.Load(folder);
        GC.Collect();
        ResetPeakRss();
        var baseline = ProcStatusBytes("VmRSS");
        var clock = Stopwatch.StartNew();
        using (LlamaForCausalLM.FromPretrained(folder)) { }
        var seconds = clock.Elapsed.TotalSeconds;
        var peak = ProcStatusBytes("VmHWM");
        // After the peak is read: how much of the load is the module's construction (with its random initialisation).
        clock.Restart();
        using (new LlamaForCausalLM(config)) { }
        var construct = clock.Elapsed.TotalSeconds;
        var increase = peak < 0 || baseline < 0 ? -1 : peak - baseline;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load-figures seconds={seconds:0.0000} construct-seconds={construct:0.0000} peak-increase-bytes={increase}"));
        return ExitCodes.Ok;
    }

    // Linux 4.0+: writing 5 to clear_refs sets the peak RSS (VmHWM) back to the current RSS.
    private static void ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>A "kB" field of /proc/self/status in bytes, or -1 where there is none (not Linux).</summary>
    private static long ProcStatusBytes(string field)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return -1;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return line is null ? -1 : long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    internal static string CpuModel()
    {
        const string path = "/proc/cpuinfo";
        var line = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
        return line?.Split(':', 2)[1].Trim() ?? "unknown CPU";
    }

    internal static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
