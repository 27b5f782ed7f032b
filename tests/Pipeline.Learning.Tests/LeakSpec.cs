using Pipeline.Learning.Grpo;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Sft;
using TorchSharp;
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

    [Fact]
    public void Perf_probe_tmp()
    {
        var cfg = new Pipeline.Learning.Model.PolicyConfig(600);
        using var policy = new Pipeline.Learning.Model.PolicyModel(cfg, 1);
        using var reference = new Pipeline.Learning.Model.PolicyModel(cfg, 1);
        var rng = new Random(1);
        var batch = Enumerable.Range(0, 32).Select(i => new TrainSample(
            Enumerable.Range(0, 20).Select(_ => rng.Next(1, 600)).ToArray(),
            Enumerable.Range(0, 40).Select(_ => rng.Next(1, 600)).ToArray(),
            Enumerable.Range(0, 40).Select(_ => -6.4f).ToArray(), rng.NextDouble() - 0.5, 0)).ToArray();
        var cpu = new List<string>();
        double Time(Action a, int n) { for (var i = 0; i < 3; i++) a(); var proc = System.Diagnostics.Process.GetCurrentProcess(); var c0 = proc.TotalProcessorTime; var sw = System.Diagnostics.Stopwatch.StartNew(); for (var i = 0; i < n; i++) a(); proc.Refresh(); cpu.Add(((proc.TotalProcessorTime - c0).TotalMilliseconds / n).ToString("F1")); return sw.Elapsed.TotalMilliseconds / n; }
        if (Environment.GetEnvironmentVariable("PERF_THREADS") is { } th) TorchSharp.torch.set_num_threads(int.Parse(th));
        using var g1 = new GrpoTrainer(policy, reference, new GrpoSettings());
        var msKl = Time(() => g1.Step(batch), 10);
        using var g0 = new GrpoTrainer(policy, null, new GrpoSettings(KlCoef: 0));
        var msNoKl = Time(() => g0.Step(batch), 10);
        using var g2 = new GrpoTrainer(policy, reference, new GrpoSettings(MiniBatches: 2, Epochs: 2));
        var ms4 = Time(() => g2.Step(batch), 5);
        using var sft = new SftTrainer(policy, 1e-4);
        var sftBatch = batch.Select(b => new SftExample(b.PromptTokens, b.CompletionTokens)).ToArray();
        var msSft = Time(() => sft.Step(sftBatch), 10);
        var sampler = new PolicySampler(policy, 1);
        var s = new SamplingSettings(1.0, 1.0, 40, Array.Empty<int>());
        var prompt = batch[0].PromptTokens;
        var msGroup = Time(() => sampler.SampleGroup(prompt, 8, s), 10);
        var msGroupP = Time(() => sampler.SampleGroup(prompt, 8, s with { TopP = 0.9 }), 10);
        var prompts = Enumerable.Range(0, 64).Select(i => batch[i % 32].PromptTokens.Take(10 + i % 11).ToArray()).ToArray();
        var msGen = Time(() => sampler.Generate(prompts, s with { Temperature = 0 }), 3);
        output.WriteLine($"threads {TorchSharp.torch.get_num_threads()}; cpu ms per call in order: {string.Join(" ", cpu)}");
        output.WriteLine($"GRPO step 32x60 (ref KL, fused prox): {msKl:F1} ms = {1920 / msKl * 1000:F0} tok/s");
        output.WriteLine($"GRPO step 32x60 (no KL): {msNoKl:F1} ms = {1920 / msNoKl * 1000:F0} tok/s");
        output.WriteLine($"GRPO step 32x60 (ref KL, 2 mb x 2 epochs): {ms4:F1} ms");
        output.WriteLine($"SFT step 32x60: {msSft:F1} ms = {1920 / msSft * 1000:F0} tok/s");
        output.WriteLine($"SampleGroup 8x40 T=1: {msGroup:F1} ms = {320 / msGroup * 1000:F0} tok/s; top-p 0.9: {msGroupP:F1} ms");
        output.WriteLine($"Generate 64 prompts x40 greedy: {msGen:F1} ms = {2560 / msGen * 1000:F0} tok/s");
    }

    [Fact]
    public void Perf_probe2_tmp()
    {
        var cfg = new Pipeline.Learning.Model.PolicyConfig(600);
        using var policy = new Pipeline.Learning.Model.PolicyModel(cfg, 1);
        var x = TorchSharp.torch.randint(1, 600, new long[] { 32, 59 });
        var y = TorchSharp.torch.randint(1, 600, new long[] { 32, 59 });
        var mask = TorchSharp.torch.ones(32, 59, dtype: TorchSharp.torch.ScalarType.Bool);
        var beh = TorchSharp.torch.full(32, 59, -6.4f);
        var adv = TorchSharp.torch.randn(32);
        double Time(Action a, int n) { for (var i = 0; i < 2; i++) a(); var sw = System.Diagnostics.Stopwatch.StartNew(); for (var i = 0; i < n; i++) a(); return sw.Elapsed.TotalMilliseconds / n; }
        var fwd = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); using var ng = TorchSharp.torch.no_grad(); policy.forward(x); }, 5);
        var ce = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); var l = policy.forward(x); TorchSharp.torch.nn.functional.cross_entropy(l.reshape(-1, 600), y.reshape(-1)).backward(); policy.zero_grad(); }, 5);
        var ls = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); var l = policy.forward(x); l.log_softmax(-1).gather(-1, y.unsqueeze(-1)).mean().backward(); policy.zero_grad(); }, 5);
        var gl = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); var l = policy.forward(x); var lp = l.log_softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1);
            GrpoLoss.Compute(lp, lp.detach(), beh, null, adv, mask, new GrpoSettings()).Loss.backward(); policy.zero_grad(); }, 5);
        output.WriteLine($"fwd {fwd:F1}  ce+bwd {ce:F1}  logsoftmax-gather+bwd {ls:F1}  grpo+bwd {gl:F1}");
        for (var rep = 0; rep < 3; rep++)
        {
            fwd = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); using var ng = TorchSharp.torch.no_grad(); policy.forward(x); }, 5);
            ls = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); var l = policy.forward(x); l.log_softmax(-1).gather(-1, y.unsqueeze(-1)).mean().backward(); policy.zero_grad(); }, 5);
            gl = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); var l = policy.forward(x); var lp = l.log_softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1);
                GrpoLoss.Compute(lp, lp.detach(), beh, null, adv, mask, new GrpoSettings()).Loss.backward(); policy.zero_grad(); }, 5);
            var lossOnly = Time(() => { using var s = TorchSharp.torch.NewDisposeScope(); var lp = TorchSharp.torch.randn(32, 59).requires_grad_(true);
                GrpoLoss.Compute(lp, lp.detach(), beh, null, adv, mask, new GrpoSettings()).Loss.backward(); }, 20);
            output.WriteLine($"rep {rep}: fwd {fwd:F1}  logsoftmax-gather+bwd {ls:F1}  grpo+bwd {gl:F1} lossonly {lossOnly:F2}");
        }
    }
}
