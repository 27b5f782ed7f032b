using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Tests.Hf;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Lora;

/// <summary>Tiny HF folders with adapters attached, and "trained" adapters (random nonzero B) so outputs really change.</summary>
internal static class LoraFixture
{
    public static LoraAdapterConfig Config(params string[] targets) => new(Rank: 4, Alpha: 8, Dropout: 0, targets);

    public static LoraAdapterConfig AllLinear => new(4, 8, 0, [LoraAdapterConfig.AllLinear]) { TargetIsPattern = true };

    public static LlamaForCausalLM Adapted(string fixture, LoraAdapterConfig config, long seed = 11)
    {
        var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(fixture));
        LoraAdapters.Attach(model, config, seed);
        return model;
    }

    /// <summary>Sets every lora_B to random values (B starts at zero, which would make the adapter a no-op).</summary>
    public static void Train(nn.Module model, long seed = 5)
    {
        using var g = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (_, layer) in LoraAdapters.Projections(model))
            if (layer.HasAdapter) layer.LoraB.copy_(randn(layer.LoraB.shape, generator: g).mul(0.05));
    }

    public static float[] Logits(LlamaForCausalLM model, string fixture)
        => HfTinyFixture.LogitsOf(model, HfTinyFixture.ReadOracle(fixture).Sequences[0]);
}
