using Pipeline.Learning.Model;
using Pipeline.Learning.Sampling;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

/// <summary>The built-in policy with rotary positions (pipeline.policy.positions = rotary), for prompts as long as a schema.</summary>
public class RotaryPositionsSpec
{
    private static readonly PolicyConfig Rotary = TinyPolicy.Config with { Positions = PositionEncoding.Rotary };

    [Fact]
    public void A_rotary_policy_must_have_no_position_parameters()
    {
        using var rotary = TinyPolicy.Create(config: Rotary);
        using var learned = TinyPolicy.Create();
        var names = rotary.named_parameters().Select(p => p.name).ToList();
        Assert.DoesNotContain("pos_emb.weight", names);
        Assert.Equal(
            learned.parameters().Sum(p => p.numel()) - (long)TinyPolicy.Config.ContextLength * TinyPolicy.Config.DModel,
            rotary.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Kv_cache_and_left_padded_greedy_must_equal_full_recompute_greedy()
    {
        using var model = TinyPolicy.Create(seed: 5, config: Rotary);
        var sampler = new PolicySampler(model, seed: 1);
        var prompts = new[] { new[] { 1, 2 }, new[] { 3, 4, 5, 6, 7, 8 }, new[] { 9 }, new[] { 10, 11, 12, 13 } };
        var outs = sampler.Generate(prompts, SamplerSpec.Greedy(12));
        for (var i = 0; i < prompts.Length; i++) Assert.Equal(SamplerSpec.GreedyRecompute(model, prompts[i], 12), outs[i].Tokens);
    }

    [Fact]
    public void Sampled_log_probs_must_equal_a_full_forward()
    {
        using var model = TinyPolicy.Create(seed: 11, config: Rotary);
        var sampler = new PolicySampler(model, seed: 2);
        var s = new SamplingSettings(1.0, 1.0, 15, Array.Empty<int>());
        var prompts = new[] { new[] { 2, 3, 4, 5, 6 }, new[] { 8 }, new[] { 9, 10 } };
        var outs = sampler.Generate(prompts, s);
        for (var i = 0; i < prompts.Length; i++)
        {
            var expected = TinyPolicy.CompletionLogProbs(model, prompts[i], outs[i].Tokens, 1.0);
            for (var j = 0; j < expected.Length; j++) Assert.Equal(expected[j], outs[i].LogProbs[j], 4);
        }
    }

    [Fact]
    public void Rotary_attention_must_depend_on_relative_positions_only()
    {
        // RoPE's defining property: shifting every position by the same offset leaves the logits unchanged; a learned
        // position table would not.
        using var model = TinyPolicy.Create(seed: 9, config: Rotary);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = tensor(new long[] { 3, 1, 4, 1, 5, 9, 2, 6 }, new long[] { 1, 8 });
        Tensor LastLogits(long offset)
        {
            var positions = arange(offset, offset + 8, dtype: ScalarType.Int64).unsqueeze(0);
            return model.ForwardCached(tokens, positions, model.NewCache(1, 8), null, causal: true);
        }
        var at0 = LastLogits(0);
        Assert.True(at0.allclose(LastLogits(17), rtol: 0, atol: 1e-4));
        using var learned = TinyPolicy.Create(seed: 9);
        var learnedAt0 = learned.ForwardCached(tokens, arange(0, 8, dtype: ScalarType.Int64).unsqueeze(0), learned.NewCache(1, 8), null, causal: true);
        var learnedAt17 = learned.ForwardCached(tokens, arange(17, 25, dtype: ScalarType.Int64).unsqueeze(0), learned.NewCache(1, 8), null, causal: true);
        Assert.False(learnedAt0.allclose(learnedAt17, rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void A_context_of_1024_must_run_prompts_of_700_tokens_with_256_token_completions()
    {
        using var model = TinyPolicy.Create(seed: 4, config: Rotary with { ContextLength = 1024 });
        var sampler = new PolicySampler(model, seed: 3);
        var rng = new Random(1);
        var prompt = Enumerable.Range(0, 700).Select(_ => rng.Next(1, Rotary.VocabSize)).ToArray();
        var completion = sampler.Generate(new[] { prompt }, new SamplingSettings(1.0, 1.0, 256, Array.Empty<int>()))[0];
        Assert.Equal(256, completion.Tokens.Length);
        var expected = TinyPolicy.CompletionLogProbs(model, prompt, completion.Tokens, 1.0);
        Assert.Equal(expected[^1], completion.LogProbs[^1], 3);
    }
}
