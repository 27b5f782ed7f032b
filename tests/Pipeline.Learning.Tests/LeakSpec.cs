using Pipeline.Learning.Grpo;
using Pipeline.Learning.Model;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Sft;
using TorchSharp;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace Pipeline.Learning.Tests;

public class LeakSpec(ITestOutputHelper output)
{
    [Fact]
    public void Live_tensor_count_must_stay_flat_across_training_and_sampling()
    {
        using var policy = TinyPolicy.Create(seed: 4);
        using var reference = TinyPolicy.Create(seed: 4);
        var sampler = new PolicySampler(policy, seed: 1);
        using var grpo = new GrpoTrainer(policy, reference, new GrpoSettings(LearningRate: 1e-3, MiniBatches: 2));
        using var sft = new SftTrainer(policy, 1e-3);
        var prompt = new[] { 1, 2, 3 };
        var settings = new SamplingSettings(1.0, 0.95, 8, new[] { 0 });
        var eval = new[] { new[] { 4, 5 }, new[] { 6 }, new[] { 7, 8, 9 } };

        void Round()
        {
            var group = sampler.SampleGroup(prompt, 4, settings);
            var batch = group.Select((c, i) => new TrainSample(prompt, c.Tokens, c.LogProbs, i % 2 == 0 ? 1 : -1, 0)).ToArray();
            grpo.Step(batch);
            grpo.Step(batch.Take(1).Select(b => b with { Advantage = double.NaN }).ToArray()); // skip path
            sft.Step(new[] { new SftExample(prompt, group[0].Tokens.Length > 0 ? group[0].Tokens : new[] { 0 }) });
            sampler.Generate(eval, settings with { Temperature = 0 });
        }

        Round(); // optimizer state is created lazily on the first step
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 30; i++) Round();
        var after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        output.WriteLine($"live tensors on this thread: {before} -> {after}; {DisposeScopeManager.Statistics}");
        Assert.Equal(before, after);
    }

    /// <summary>
    /// Opt-in throughput probe at the default shape (vocab 600, d_model 128, 2 layers, context 160):
    /// <c>PIPELINE_PERF=1 [PIPELINE_PERF_THREADS=n] dotnet test tests/Pipeline.Learning.Tests --filter Throughput_probe</c>. Reports, never asserts
    /// (timings on a shared 2-core box are too noisy to gate on).
    /// </summary>
    [Fact]
    public void Throughput_probe_reports_training_and_sampling_speed()
    {
        if (Environment.GetEnvironmentVariable("PIPELINE_PERF") != "1") return;
        if (int.TryParse(Environment.GetEnvironmentVariable("PIPELINE_PERF_THREADS"), out var threads)) torch.set_num_threads(threads);
        var config = new PolicyConfig(VocabSize: 600);
        using var policy = new PolicyModel(config, 1);
        using var reference = new PolicyModel(config, 1);
        var rng = new Random(1);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(1, config.VocabSize)).ToArray();
        var batch = Enumerable.Range(0, 32).Select(_ => new TrainSample(Tokens(20), Tokens(40),
            Enumerable.Repeat(-6.4f, 40).ToArray(), rng.NextDouble() - 0.5, 0)).ToArray();
        const int batchTokens = 32 * 60;
        var cpu = new List<string>();
        double Ms(Action a, int n)
        {
            for (var i = 0; i < 3; i++) a();
            var process = System.Diagnostics.Process.GetCurrentProcess();
            var cpu0 = process.TotalProcessorTime;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < n; i++) a();
            process.Refresh();
            cpu.Add(((process.TotalProcessorTime - cpu0).TotalMilliseconds / n).ToString("F0"));
            return sw.Elapsed.TotalMilliseconds / n;
        }

        using var withKl = new GrpoTrainer(policy, reference, new GrpoSettings());
        using var noKl = new GrpoTrainer(policy, null, new GrpoSettings(KlCoef: 0));
        using var sft = new SftTrainer(policy, 1e-4);
        var sampler = new PolicySampler(policy, 1);
        var s = new SamplingSettings(1.0, 1.0, 40, Array.Empty<int>());
        var prompts = Enumerable.Range(0, 64).Select(i => batch[i % 32].PromptTokens.Take(10 + i % 11).ToArray()).ToArray();
        var lines = new[]
        {
            ("GRPO step 32x60, ref KL", Ms(() => withKl.Step(batch), 10), batchTokens),
            ("GRPO step 32x60, no KL", Ms(() => noKl.Step(batch), 10), batchTokens),
            ("SFT step 32x60", Ms(() => sft.Step(batch.Select(b => new SftExample(b.PromptTokens, b.CompletionTokens)).ToArray()), 10), batchTokens),
            ("SampleGroup 8x40, T=1", Ms(() => sampler.SampleGroup(batch[0].PromptTokens, 8, s), 10), 320),
            ("SampleGroup 8x40, T=1, top-p 0.9", Ms(() => sampler.SampleGroup(batch[0].PromptTokens, 8, s with { TopP = 0.9 }), 10), 320),
            ("Generate 64 prompts x40, greedy", Ms(() => sampler.Generate(prompts, s with { Temperature = 0 }), 3), 64 * 40),
        };
        output.WriteLine($"torch threads {torch.get_num_threads()}");
        for (var i = 0; i < lines.Length; i++)
            output.WriteLine($"{lines[i].Item1}: {lines[i].Item2:F1} ms wall ({cpu[i]} ms cpu) = {lines[i].Item3 / lines[i].Item2 * 1000:F0} tokens/s");
    }
}
