using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Tests.Hf;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Learning.Tests.Lora;

/// <summary>pipeline.policy.lora through the factory: hf policies come with adapters drawn from the run seed; builtin is refused.</summary>
public sealed class LoraPolicyFactorySpec
{
    private static PolicySettings Hf(string fixture, params string[] targets) => new(0, 0, 1, 1, 64)
    {
        Source = "hf",
        Path = HfTinyFixture.Folder(fixture),
        Lora = new LoraSettings(true, 4, 8, 0, targets),
    };

    [Fact]
    public void An_hf_policy_with_lora_on_comes_with_adapters_drawn_from_the_run_seed()
    {
        var settings = Hf("qwen2", "q_proj", "v_proj");
        var factory = PolicyFactory.From(settings, new VocabularyOnlyTokenizer(LlamaConfig.Load(settings.Path).VocabSize));

        using var a = factory.Create(seed: 5);
        using var again = factory.Create(seed: 5);
        using var other = factory.Create(seed: 6);

        const string name = "model.layers.0.self_attn.q_proj.lora_A.weight";
        Assert.True(LoraAdapters.HasAdapters(a));
        Assert.Equal(a.state_dict()[name].data<float>().ToArray(), again.state_dict()[name].data<float>().ToArray());
        Assert.NotEqual(a.state_dict()[name].data<float>().ToArray(), other.state_dict()[name].data<float>().ToArray());
        Assert.Equal(a.state_dict().Keys.Order(), factory.ParameterShapes().Keys.Order());
        Assert.Equal("4", factory.CheckpointExtras()["pipeline.policy.lora.rank"]);
        Assert.Equal(LoraAdapters.AdapterTensors(a).Count, a.TrainableParameters().Count);
    }

    [Fact]
    public void Lora_off_records_nothing_new_in_checkpoints()
    {
        var settings = Hf("qwen2") with { Lora = LoraSettings.Off };
        var factory = PolicyFactory.From(settings, new VocabularyOnlyTokenizer(LlamaConfig.Load(settings.Path).VocabSize));

        using var model = factory.Create(seed: 5);

        Assert.False(LoraAdapters.HasAdapters(model));
        Assert.DoesNotContain(factory.CheckpointExtras().Keys, k => k.Contains("lora"));
    }

    [Fact]
    public void Lora_on_the_builtin_policy_is_refused_naming_the_key()
    {
        var settings = new PolicySettings(64, 16, 1, 2, 32) { Lora = new LoraSettings(true, 4, 8, 0, ["q_proj"]) };

        var error = Assert.Throws<ConfigException>(() => PolicyFactory.From(settings, new VocabularyOnlyTokenizer(64)));

        Assert.Contains("pipeline.policy.lora.enabled", error.Message);
    }

    [Fact]
    public void Validation_refuses_a_target_module_the_hf_decoder_does_not_have_before_any_weights_load()
    {
        var error = Assert.Throws<ConfigException>(() => PolicyFactory.Validate(Hf("qwen2", "q_proj", "query_key_value")));

        Assert.Contains("pipeline.policy.lora.target-modules", error.Message);
        Assert.Contains("query_key_value", error.Message);
    }
}
