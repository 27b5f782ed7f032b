using Pipeline.Core.Configuration;

namespace Pipeline.Core.Tests;

/// <summary>pipeline.policy.dtype and the generators' own placement (pipeline.generation.device / dtype).</summary>
public sealed class PrecisionSettingsSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-precision-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void By_default_the_dtype_is_auto_and_generators_follow_the_learner()
    {
        var s = PipelineSettings.From(new ConfigLayers());

        Assert.Equal("auto", s.Policy.Dtype);
        Assert.Equal("", s.Generation.Device);
        Assert.Equal("", s.Generation.Dtype);
    }

    [Fact]
    public void An_hf_policy_may_train_in_bfloat16_with_float32_generators_on_the_cpu()
    {
        var s = PipelineSettings.Load(_dir, "local", null,
            ["policy.source=hf", "policy.path=/m", "policy.dtype=bfloat16", "generation.device=cpu", "generation.dtype=float32"]);

        Assert.Equal("bfloat16", s.Policy.Dtype);
        Assert.Equal("cpu", s.Generation.Device);
        Assert.Equal("float32", s.Generation.Dtype);
    }

    [Theory]
    [InlineData("policy.dtype=bfloat16", "pipeline.policy.dtype")]
    [InlineData("generation.dtype=bfloat16", "pipeline.generation.dtype")]
    public void Bfloat16_for_the_builtin_model_is_refused_naming_the_key(string set, string key)
    {
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, [set]));

        Assert.Contains(key, e.Message);
        Assert.Contains("pipeline.policy.source = hf", e.Message);
    }

    [Theory]
    [InlineData("policy.dtype=fp16", "pipeline.policy.dtype")]
    [InlineData("generation.device=tpu", "pipeline.generation.device")]
    public void An_unknown_dtype_or_device_is_refused_naming_the_key_and_the_choices(string set, string key)
    {
        var e = Assert.Throws<ConfigException>(() => PipelineSettings.Load(_dir, "local", null, [set]));

        Assert.Contains(key, e.Message);
        Assert.Contains("expected one of", e.Message);
    }
}
