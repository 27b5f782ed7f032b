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
}
