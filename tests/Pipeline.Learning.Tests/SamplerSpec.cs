using Pipeline.Learning.Model;
using Pipeline.Learning.Sampling;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

public class SamplerSpec
{
    internal static SamplingSettings Greedy(int maxTokens, params int[] stops) => new(0, 1, maxTokens, stops);

    /// <summary>Greedy decoding by recomputing the whole sequence every step (no cache).</summary>
    internal static int[] GreedyRecompute(PolicyModel model, int[] prompt, int maxTokens)
    {
        var seq = prompt.ToList();
        for (var i = 0; i < maxTokens && seq.Count < model.Config.ContextLength; i++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var logits = model.forward(tensor(seq.Select(t => (long)t).ToArray(), new long[] { 1, seq.Count }));
            seq.Add((int)logits[0, seq.Count - 1].argmax().item<long>());
        }
        return seq.Skip(prompt.Length).ToArray();
    }

    [Fact]
    public void Kv_cache_greedy_must_equal_full_recompute_greedy()
    {
        using var model = TinyPolicy.Create(seed: 3);
        var sampler = new PolicySampler(model, seed: 1);
        var prompt = new[] { 1, 4, 9, 2 };
        var expected = GreedyRecompute(model, prompt, 20);
        var group = sampler.SampleGroup(prompt, 3, Greedy(20));
        Assert.All(group, c => Assert.Equal(expected, c.Tokens));
    }

    [Fact]
    public void Left_padded_generation_must_equal_per_prompt_recompute()
    {
        using var model = TinyPolicy.Create(seed: 5);
        var sampler = new PolicySampler(model, seed: 1);
        var prompts = new[] { new[] { 1, 2 }, new[] { 3, 4, 5, 6, 7, 8 }, new[] { 9 }, new[] { 10, 11, 12, 13 } };
        var outs = sampler.Generate(prompts, Greedy(12));
        for (var i = 0; i < prompts.Length; i++) Assert.Equal(GreedyRecompute(model, prompts[i], 12), outs[i].Tokens);
    }

    [Fact]
    public void Generate_must_return_results_in_input_order_across_several_batches()
    {
        using var model = TinyPolicy.Create(seed: 6);
        var sampler = new PolicySampler(model, seed: 1);
        var rng = new Random(3);
        var prompts = Enumerable.Range(0, PolicySampler.MaxBatch + 6)
            .Select(_ => Enumerable.Range(0, rng.Next(1, 9)).Select(_ => rng.Next(1, TinyPolicy.Config.VocabSize)).ToArray()).ToArray();
        var batched = sampler.Generate(prompts, Greedy(4));
        Assert.Equal(prompts.Length, batched.Count);
        for (var i = 0; i < prompts.Length; i += 7)
            Assert.Equal(sampler.Generate(new[] { prompts[i] }, Greedy(4))[0].Tokens, batched[i].Tokens);
    }

    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.7, 1.0)]
    [InlineData(1.3, 0.9)]
    public void Log_probs_must_equal_the_tempered_log_softmax_of_a_full_forward(double temperature, double topP)
    {
        using var model = TinyPolicy.Create(seed: 11);
        var sampler = new PolicySampler(model, seed: 2);
        var s = new SamplingSettings(temperature, topP, 15, Array.Empty<int>());
        var prompt = new[] { 1, 7, 3 };
        foreach (var c in sampler.SampleGroup(prompt, 4, s))
            AssertClose(TinyPolicy.CompletionLogProbs(model, prompt, c.Tokens, temperature), c.LogProbs);

        var prompts = new[] { new[] { 2, 3, 4, 5, 6 }, new[] { 8 }, new[] { 9, 10 } };
        var outs = sampler.Generate(prompts, s);
        for (var i = 0; i < prompts.Length; i++)
            AssertClose(TinyPolicy.CompletionLogProbs(model, prompts[i], outs[i].Tokens, temperature), outs[i].LogProbs);
    }

    [Fact]
    public void Greedy_log_probs_must_be_those_of_temperature_one()
    {
        using var model = TinyPolicy.Create(seed: 11);
        var c = new PolicySampler(model, 0).SampleGroup(new[] { 1, 2 }, 1, Greedy(6))[0];
        AssertClose(TinyPolicy.CompletionLogProbs(model, new[] { 1, 2 }, c.Tokens, 1.0), c.LogProbs);
    }

    [Fact]
    public void A_stop_token_must_end_the_completion_and_be_included()
    {
        using var model = TinyPolicy.Create(seed: 3);
        var sampler = new PolicySampler(model, seed: 1);
        var prompt = new[] { 1, 4, 9, 2 };
        var free = sampler.SampleGroup(prompt, 1, Greedy(20))[0].Tokens;
        var k = Enumerable.Range(0, free.Length).Last(i => !free.Take(i).Contains(free[i])); // latest first occurrence
        var stopped = sampler.SampleGroup(prompt, 2, Greedy(20, free[k]));
        Assert.All(stopped, c =>
        {
            Assert.Equal(free.Take(k + 1), c.Tokens);
            Assert.Equal(k + 1, c.LogProbs.Length);
            Assert.False(c.Truncated);
        });
    }

    [Fact]
    public void Hitting_max_tokens_or_the_context_must_flag_truncation()
    {
        using var model = TinyPolicy.Create(seed: 3);
        var sampler = new PolicySampler(model, seed: 1);
        var c = sampler.SampleGroup(new[] { 1, 2 }, 1, new SamplingSettings(1.0, 1.0, 5, Array.Empty<int>()))[0];
        Assert.Equal(5, c.Tokens.Length);
        Assert.True(c.Truncated);

        var longPrompt = Enumerable.Range(0, TinyPolicy.Config.ContextLength - 3).Select(i => i % 20 + 1).ToArray();
        var outs = sampler.Generate(new[] { longPrompt, new[] { 1 } }, Greedy(10));
        Assert.Equal(3, outs[0].Tokens.Length);
        Assert.True(outs[0].Truncated);
        Assert.Equal(10, outs[1].Tokens.Length);
        Assert.True(outs[1].Truncated);
    }

    [Fact]
    public void Same_seed_must_reproduce_samples_and_a_restored_rng_state_must_continue_the_stream()
    {
        using var model = TinyPolicy.Create(seed: 3);
        var s = new SamplingSettings(1.0, 1.0, 12, Array.Empty<int>());
        var prompt = new[] { 1, 2, 3 };
        var a = new PolicySampler(model, seed: 99);
        var b = new PolicySampler(model, seed: 99);
        var a1 = a.SampleGroup(prompt, 8, s);
        var b1 = b.SampleGroup(prompt, 8, s);
        Assert.Equal(a1.Select(c => c.Tokens), b1.Select(c => c.Tokens));
        Assert.True(a1.Select(c => string.Join(",", c.Tokens)).Distinct().Count() > 1, "rows of a group must differ");

        var state = a.RngState;
        var a2 = a.SampleGroup(prompt, 8, s);
        Assert.NotEqual(a1.Select(c => c.Tokens), a2.Select(c => c.Tokens));
        var resumed = new PolicySampler(model, seed: 0);
        resumed.RestoreRngState(state);
        Assert.Equal(a2.Select(c => c.Tokens), resumed.SampleGroup(prompt, 8, s).Select(c => c.Tokens));
    }

    [Fact]
    public void A_tiny_top_p_must_sample_greedily()
    {
        using var model = TinyPolicy.Create(seed: 3);
        var sampler = new PolicySampler(model, seed: 4);
        var prompt = new[] { 5, 6 };
        var greedy = sampler.SampleGroup(prompt, 1, Greedy(15))[0].Tokens;
        var nucleus = sampler.SampleGroup(prompt, 4, new SamplingSettings(1.0, 1e-6, 15, Array.Empty<int>()));
        Assert.All(nucleus, c => Assert.Equal(greedy, c.Tokens));
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-4, $"token {i}: {expected[i]} vs {actual[i]}");
    }
}
