using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;

namespace Pipeline.Learning.Tests.Hf;

public class ModelFolderErrorsSpec
{
    private static ConfigException Load(string folder) => Assert.Throws<ConfigException>(() => LlamaForCausalLM.FromPretrained(folder).Dispose());

    [Fact]
    public void A_folder_without_config_json_is_refused_naming_the_file()
    {
        using var folder = new TinyLlamaFolder();
        File.Delete(folder.File_("config.json"));
        var e = Load(folder.Path);
        Assert.Contains("config.json", e.Message);
        Assert.Contains(folder.Path, e.Message);
    }

    [Fact]
    public void A_folder_without_weights_is_refused_naming_both_accepted_files()
    {
        using var folder = new TinyLlamaFolder();
        File.Delete(folder.File_("model.safetensors"));
        var e = Load(folder.Path);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("model.safetensors.index.json", e.Message);
    }

    [Theory]
    [InlineData("length")]
    [InlineData("json")]
    [InlineData("offsets")]
    public void A_corrupt_safetensors_header_is_refused_naming_the_file(string damage)
    {
        using var folder = new TinyLlamaFolder();
        var path = folder.File_("model.safetensors");
        var bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "length":
                BitConverter.GetBytes((ulong)bytes.Length * 2).CopyTo(bytes, 0);
                break;
            case "json":
                bytes[8] = (byte)'#';
                break;
            case "offsets":
                // Truncating the data leaves the last tensor's offsets pointing past the end.
                bytes = bytes[..^16];
                break;
        }
        File.WriteAllBytes(path, bytes);
        var e = Load(folder.Path);
        Assert.Contains(path, e.Message);
        Assert.Contains("corrupt safetensors header", e.Message);
    }

    [Fact]
    public void Missing_unexpected_and_wrongly_shaped_tensors_are_all_listed_in_one_error()
    {
        using var folder = new TinyLlamaFolder();
        var items = folder.Items.Where(i => i.Name != "model.layers.1.mlp.up_proj.weight")
            .Select(i => i.Name == "model.layers.0.self_attn.k_proj.weight" ? i with { Shape = [16, 8], Values = i.Values } : i)
            .Append(new SafetensorsWriter.Item("model.layers.2.mlp.up_proj.weight", [2], [1f, 2f]))
            .ToList();
        SafetensorsWriter.Write(folder.File_("model.safetensors"), items);
        var e = Load(folder.Path);
        Assert.Contains("missing (1): model.layers.1.mlp.up_proj.weight", e.Message);
        Assert.Contains("unexpected (1): model.layers.2.mlp.up_proj.weight", e.Message);
        Assert.Contains("wrong shape (1): model.layers.0.self_attn.k_proj.weight: stored [16, 8], the model needs [8, 16]", e.Message);
    }

    [Fact]
    public void An_unknown_model_type_is_refused_naming_the_field()
    {
        using var folder = new TinyLlamaFolder();
        File.WriteAllText(folder.File_("config.json"), TinyLlamaFolder.ConfigJson.Replace("\"model_type\": \"llama\"", "\"model_type\": \"gpt_neox\""));
        var e = Load(folder.Path);
        Assert.Contains("config.json: field 'model_type' is 'gpt_neox', which is not supported", e.Message);
    }

    [Fact]
    public void An_unknown_architecture_is_refused_naming_the_field()
    {
        using var folder = new TinyLlamaFolder();
        File.WriteAllText(folder.File_("config.json"), TinyLlamaFolder.ConfigJson.Replace("\"LlamaForCausalLM\"", "\"LlamaForSequenceClassification\""));
        Assert.Contains("field 'architectures' names 'LlamaForSequenceClassification'", Load(folder.Path).Message);
    }

    [Theory]
    [InlineData("\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": 4.0 }", "rope_scaling.rope_type' is 'yarn'")]
    [InlineData("\"rope_scaling\": { \"type\": \"dynamic\", \"factor\": 2.0 }", "rope_scaling.type' is 'dynamic'")]
    [InlineData("\"rope_scaling\": { \"rope_type\": \"llama3\", \"factor\": 8.0 }", "rope_scaling.low_freq_factor' is missing")]
    public void An_unsupported_or_incomplete_rope_scaling_is_refused_naming_the_field(string rope, string expected)
    {
        using var folder = new TinyLlamaFolder();
        File.WriteAllText(folder.File_("config.json"), TinyLlamaFolder.ConfigJson.Replace("\"rope_theta\": 10000.0", $"\"rope_theta\": 10000.0, {rope}"));
        Assert.Contains(expected, Load(folder.Path).Message);
    }

    [Theory]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act")]
    [InlineData("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "num_key_value_heads")]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"silu\", \"quantization_config\": { \"quant_method\": \"gptq\" }", "quantization_config")]
    [InlineData("\"vocab_size\": 32,", "", "vocab_size' is missing")]
    public void A_config_field_the_model_cannot_compute_is_refused_by_name(string from, string to, string expected)
    {
        using var folder = new TinyLlamaFolder();
        File.WriteAllText(folder.File_("config.json"), TinyLlamaFolder.ConfigJson.Replace(from, to));
        Assert.Contains(expected, Load(folder.Path).Message);
    }
}
