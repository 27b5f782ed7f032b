using System.Text.Json.Nodes;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>What the Qwen2/Qwen3 loader cannot compute stops the load with a ConfigException naming the field.</summary>
public class DecoderFamilyRefusalSpec
{
    private static string Refusal(string fixture, Action<JsonObject> edit)
    {
        using var folder = new HfTinyFixture.Copy(fixture, edit);
        return Assert.Throws<ConfigException>(() => LlamaForCausalLM.FromPretrained(folder.Path).Dispose()).Message;
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3-bf16")]
    public void Sliding_window_attention_on_some_layer_is_refused_naming_use_sliding_window(string fixture)
    {
        var message = Refusal(fixture, c =>
        {
            c["use_sliding_window"] = true;
            c["sliding_window"] = 4;
            c["max_window_layers"] = 1;
        });
        Assert.Contains("field 'use_sliding_window' is true with sliding_window 4: layers 1 to 1 (max_window_layers 1) would use sliding-window attention", message);
    }

    [Fact]
    public void A_sliding_layer_in_layer_types_is_refused_naming_layer_types()
    {
        var message = Refusal("qwen2-tied", c =>
        {
            c["use_sliding_window"] = true;
            c["sliding_window"] = 4;
            c["layer_types"] = new JsonArray("full_attention", "sliding_attention");
        });
        Assert.Contains("field 'layer_types' marks layer 1 'sliding_attention'", message);
    }

    [Theory]
    [InlineData("[\"full_attention\"]", "must be a list of 2 entries")]
    [InlineData("[\"full_attention\", \"chunked_attention\"]", "names 'chunked_attention' for layer 1")]
    public void Layer_types_of_the_wrong_length_or_kind_are_refused(string types, string expected)
    {
        var message = Refusal("qwen2-tied", c => c["layer_types"] = JsonNode.Parse(types));
        Assert.Contains($"field 'layer_types' {expected}", message);
    }

    [Theory]
    [InlineData("qwen2_moe")]
    [InlineData("qwen3_moe")]
    public void An_unknown_model_type_is_refused_naming_the_field(string modelType)
    {
        var message = Refusal("qwen2", c => c["model_type"] = modelType);
        Assert.Contains($"field 'model_type' is '{modelType}', which is not supported (supported: llama, qwen2, qwen3)", message);
    }

    [Fact]
    public void An_architecture_of_another_family_than_model_type_is_refused()
    {
        var message = Refusal("qwen2", c => c["architectures"] = new JsonArray("Qwen3ForCausalLM"));
        Assert.Contains("field 'architectures' names 'Qwen3ForCausalLM', but model_type 'qwen2' is computed by Qwen2ForCausalLM", message);
    }

    [Theory]
    [InlineData("qwen2", "rope_scaling", "yarn")]
    [InlineData("qwen2-tied", "rope_parameters", "dynamic")]
    public void An_unsupported_rope_type_is_refused_naming_the_field(string fixture, string field, string type)
    {
        var message = Refusal(fixture, c => c[field] = new JsonObject { ["rope_type"] = type, ["rope_theta"] = 1e6, ["factor"] = 4.0 });
        Assert.Contains($"field '{field}.rope_type' is '{type}', which is not supported", message);
    }

    [Fact]
    public void A_partial_rotary_factor_is_refused_naming_the_field()
    {
        Assert.Contains("field 'partial_rotary_factor' is 0.5", Refusal("qwen3-bf16", c => c["partial_rotary_factor"] = 0.5));
        // transformers 5 moves it into rope_parameters.
        Assert.Contains("field 'rope_parameters.partial_rotary_factor' is 0.25",
            Refusal("qwen2-tied", c => c["rope_parameters"]!["partial_rotary_factor"] = 0.25));
    }

    [Fact]
    public void Attention_dropout_is_refused_naming_the_field()
    {
        Assert.Contains("field 'attention_dropout' is 0.1", Refusal("qwen2", c => c["attention_dropout"] = 0.1));
    }

    [Fact]
    public void Qwen3_weights_without_a_q_norm_are_listed_as_missing()
    {
        using var folder = new HfTinyFixture.Copy("qwen3-bias-tied");
        var file = SafetensorsFile.Open(folder.File_("model.safetensors"));
        var items = file.Tensors.Keys.Where(n => n != "model.layers.1.self_attn.q_norm.weight").Select(n =>
        {
            using var t = file.ReadFloat32(n);
            return new SafetensorsWriter.Item(n, file.Tensors[n].Shape, t.data<float>().ToArray());
        }).ToList();
        SafetensorsWriter.Write(folder.File_("model.safetensors"), items);
        var message = Assert.Throws<ConfigException>(() => LlamaForCausalLM.FromPretrained(folder.Path).Dispose()).Message;
        Assert.Contains("missing (1): model.layers.1.self_attn.q_norm.weight", message);
    }

    [Fact]
    public void Qwen2_weights_under_a_qwen3_config_list_the_norms_missing_and_the_biases_unexpected()
    {
        // The same sizes, but Qwen3 (attention_bias false) has q_norm/k_norm and no q/k/v biases.
        var message = Refusal("qwen2", c =>
        {
            c["model_type"] = "qwen3";
            c["architectures"] = new JsonArray("Qwen3ForCausalLM");
            c["head_dim"] = 8;
        });
        Assert.Contains("missing (4): model.layers.0.self_attn.q_norm.weight", message);
        Assert.Contains("unexpected (6): model.layers.0.self_attn.k_proj.bias", message);
    }
}
