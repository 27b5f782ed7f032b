using Pipeline.Learning.Weights;

namespace Pipeline.Learning.Tests.Lora;

/// <summary>With LoRA a weight version carries only the adapters: every holder loaded the same frozen base.</summary>
public sealed class LoraWeightSyncSpec
{
    [Fact]
    public void A_version_of_an_adapted_policy_carries_only_adapter_tensors_and_reproduces_its_outputs()
    {
        var config = LoraFixture.Config("q_proj", "v_proj");
        using var learner = LoraFixture.Adapted("qwen2", config, seed: 1);
        LoraFixture.Train(learner);
        using var generator = LoraFixture.Adapted("qwen2", config, seed: 2);
        Assert.NotEqual(LoraFixture.Logits(learner, "qwen2"), LoraFixture.Logits(generator, "qwen2"));

        var version = WeightTransfer.Export(learner, 7);
        WeightTransfer.Import(generator, version);

        Assert.All(version.Tensors, t => Assert.Contains(".lora_", t.Name));
        var full = learner.state_dict().Values.Sum(t => t.numel());
        Assert.True(version.ParameterCount * 10 < full, $"{version.ParameterCount} adapter values vs {full} in the model");
        Assert.Equal(LoraFixture.Logits(learner, "qwen2"), LoraFixture.Logits(generator, "qwen2"));
    }

    [Fact]
    public void A_streamed_version_of_an_adapted_bf16_policy_moves_only_adapter_bytes_and_reproduces_its_outputs()
    {
        var config = LoraFixture.Config("q_proj", "v_proj");
        using var learner = LoraFixture.Adapted("qwen3-bf16", config, seed: 5);
        LoraFixture.Train(learner);
        using var generator = LoraFixture.Adapted("qwen3-bf16", config, seed: 6);
        using var live = new LiveWeights(learner);

        var version = live.Publish(3);
        var adapters = Pipeline.Learning.Lora.LoraAdapters.AdapterTensors(learner);
        Assert.All(version.Layouts, l => Assert.Contains(".lora_", l.Name));
        Assert.Equal(adapters.Sum(a => a.Tensor.numel() * a.Tensor.element_size()), version.TotalBytes());
        var modelBytes = learner.state_dict().Values.Sum(t => t.numel() * t.element_size());
        Assert.True(version.TotalBytes() * 10 < modelBytes, $"{version.TotalBytes()} adapter bytes vs {modelBytes} in the model");

        Assert.True(WeightTransfer.Apply(generator, version, TimeSpan.FromSeconds(5)));
        Assert.Equal(LoraFixture.Logits(learner, "qwen3-bf16"), LoraFixture.Logits(generator, "qwen3-bf16"));
    }

    [Fact]
    public void A_full_snapshot_still_imports_into_an_adapted_policy()
    {
        var config = LoraFixture.Config("q_proj");
        using var source = LoraFixture.Adapted("qwen3-bf16", config, seed: 3);
        LoraFixture.Train(source);
        var full = new WeightSnapshot(1, source.state_dict()
            .Select(kv => new NamedTensor(kv.Key, kv.Value.shape, kv.Value.data<float>().ToArray())).ToList());
        using var target = LoraFixture.Adapted("qwen3-bf16", config, seed: 4);

        WeightTransfer.Import(target, full);

        Assert.Equal(LoraFixture.Logits(source, "qwen3-bf16"), LoraFixture.Logits(target, "qwen3-bf16"));
    }
}
