using Pipeline.Learning.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

/// <summary>Tiny shapes shared by the learning specs: fast on two CPU cores.</summary>
internal static class TinyPolicy
{
    public static readonly PolicyConfig Config = new(VocabSize: 24, DModel: 16, Layers: 2, Heads: 2, ContextLength: 32, FfnMultiplier: 2);

    public static PolicyModel Create(long seed = 7, PolicyConfig? config = null) => new(config ?? Config, seed);

    /// <summary>log_softmax(logits/T) of each completion token under a plain full forward (no cache).</summary>
    public static float[] CompletionLogProbs(PolicyModel model, int[] prompt, int[] completion, double temperature)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var seq = prompt.Concat(completion).Select(t => (long)t).ToArray();
        var logits = model.forward(tensor(seq, new long[] { 1, seq.Length }));
        var logp = (logits / temperature).log_softmax(-1)[0];
        return completion.Select((tok, j) => logp[prompt.Length - 1 + j, tok].item<float>()).ToArray();
    }

    public static float[][] Snapshot(PolicyModel model) =>
        model.parameters().Select(p => p.detach().cpu().data<float>().ToArray()).ToArray();
}

public class PolicyModelSpec
{
    [Fact]
    public void Forward_must_map_tokens_to_logits_over_the_vocabulary()
    {
        using var model = TinyPolicy.Create();
        using var scope = NewDisposeScope();
        var logits = model.forward(randint(0, TinyPolicy.Config.VocabSize, new long[] { 3, 11 }));
        Assert.Equal(new long[] { 3, 11, TinyPolicy.Config.VocabSize }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
    }

    [Fact]
    public void Changing_a_future_token_must_not_change_earlier_logits()
    {
        using var model = TinyPolicy.Create();
        using var scope = NewDisposeScope();
        var a = tensor(new long[] { 1, 5, 9, 3, 7, 2 }, new long[] { 1, 6 });
        var b = tensor(new long[] { 1, 5, 9, 3, 8, 2 }, new long[] { 1, 6 });
        var la = model.forward(a);
        var lb = model.forward(b);
        Assert.True(la.narrow(1, 0, 4).allclose(lb.narrow(1, 0, 4), rtol: 0, atol: 1e-6));
        Assert.False(la.narrow(1, 4, 2).allclose(lb.narrow(1, 4, 2), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void Same_seed_must_give_identical_weights_and_another_seed_different_ones()
    {
        using var a = TinyPolicy.Create(seed: 42);
        using var b = TinyPolicy.Create(seed: 42);
        using var c = TinyPolicy.Create(seed: 43);
        var (pa, pb, pc) = (TinyPolicy.Snapshot(a), TinyPolicy.Snapshot(b), TinyPolicy.Snapshot(c));
        Assert.Equal(pa.Length, pb.Length);
        for (var i = 0; i < pa.Length; i++) Assert.Equal(pa[i], pb[i]);
        Assert.Contains(Enumerable.Range(0, pa.Length), i => !pa[i].SequenceEqual(pc[i]));
    }

    [Fact]
    public void Parameter_names_must_be_stable_for_checkpoints()
    {
        using var model = TinyPolicy.Create();
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("tok_emb.weight", names);
        Assert.Contains("pos_emb.weight", names);
        Assert.Contains("blocks.1.qkv.weight", names);
        Assert.Contains("ln_f.bias", names);
        Assert.DoesNotContain(names, n => n.Contains("head")); // LM head is tied to tok_emb
    }

    [Fact]
    public void Sequences_longer_than_the_context_must_be_rejected()
    {
        using var model = TinyPolicy.Create();
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => model.forward(zeros(1, TinyPolicy.Config.ContextLength + 1, dtype: ScalarType.Int64)));
    }
}
