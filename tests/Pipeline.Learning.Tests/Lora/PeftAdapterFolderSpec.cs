using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Tests.Hf;

namespace Pipeline.Learning.Tests.Lora;

/// <summary>
/// Adapters written in PEFT's layout (adapter_config.json, adapter_model.safetensors with base_model.model.* names) load
/// back onto a fresh base with identical outputs; a bad adapter folder is refused naming the file and field or tensor,
/// and leaves the model as it was.
/// </summary>
public sealed class PeftAdapterFolderSpec : IDisposable
{
    private const string Fixture = "qwen2";
    private readonly string _dir = Directory.CreateTempSubdirectory("peft-adapter-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ConfigPath => Path.Combine(_dir, PeftAdapterFolder.ConfigFile);
    private string WeightsPath => Path.Combine(_dir, PeftAdapterFolder.WeightsFile);

    private float[] SaveTrained(LoraAdapterConfig config)
    {
        using var model = LoraFixture.Adapted(Fixture, config);
        LoraFixture.Train(model);
        PeftAdapterFolder.Save(model, config, _dir, "tests/fixtures/hf-tiny/qwen2");
        return LoraFixture.Logits(model, Fixture);
    }

    [Fact]
    public void A_saved_adapter_folder_loads_back_onto_a_fresh_base_with_identical_logits()
    {
        var expected = SaveTrained(LoraFixture.Config("q_proj", "v_proj"));
        using var fresh = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));
        var baseLogits = LoraFixture.Logits(fresh, Fixture);

        var config = PeftAdapterFolder.Load(fresh, _dir);

        Assert.Equal(expected, LoraFixture.Logits(fresh, Fixture));
        Assert.True(HfTinyFixture.MaxAbsDiff(baseLogits, expected) > 1e-2, "the adapters must change the base's logits");
        Assert.Equal((4, 8.0, 2.0), (config.Rank, config.Alpha, config.Scaling));
    }

    [Fact]
    public void A_PEFT_folder_written_by_an_independent_PyTorch_script_gives_its_oracle_logits()
    {
        // tests/fixtures/hf-tiny/qwen2-lora: record_lora.py's adapters (rsLoRA scaling, dropout 0.05, three targets) and
        // the logits of its own eager forward on the merged weights.
        var folder = HfTinyFixture.Folder("qwen2-lora");
        using var oracle = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "oracle.json")));
        var sequence = oracle.RootElement.GetProperty("sequence").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var expected = oracle.RootElement.GetProperty("logits").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        using var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));
        var baseLogits = HfTinyFixture.LogitsOf(model, sequence);

        var config = PeftAdapterFolder.Load(model, folder);

        Assert.True(config.UseRslora);
        Assert.Equal(4.0, config.Scaling); // 8 / sqrt(4)
        var logits = HfTinyFixture.LogitsOf(model, sequence);
        Assert.True(HfTinyFixture.MaxAbsDiff(expected, logits) <= 1e-4, $"max abs diff {HfTinyFixture.MaxAbsDiff(expected, logits)}");
        Assert.True(HfTinyFixture.MaxAbsDiff(baseLogits, logits) > 0.1, "the adapters must move the logits");
    }

    [Fact]
    public void The_folder_holds_PEFTs_config_fields_and_only_lora_tensors_under_base_model_model_names()
    {
        SaveTrained(LoraFixture.Config("v_proj", "q_proj"));

        var json = JsonNode.Parse(File.ReadAllText(ConfigPath))!.AsObject();
        Assert.Equal("LORA", (string?)json["peft_type"]);
        Assert.Equal("CAUSAL_LM", (string?)json["task_type"]);
        Assert.Equal(4, (int?)json["r"]);
        Assert.Equal(8.0, (double?)json["lora_alpha"]);
        Assert.Equal("none", (string?)json["bias"]);
        Assert.False((bool?)json["fan_in_fan_out"]);
        Assert.Equal(["q_proj", "v_proj"], json["target_modules"]!.AsArray().Select(n => (string)n!));
        var names = SafetensorsFile.Open(WeightsPath).Tensors.Keys.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(8, names.Count); // 2 layers x 2 modules x (A, B)
        Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", names);
        Assert.Contains("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", names);
        Assert.All(names, n => Assert.Matches(@"^base_model\.model\.model\.layers\.\d\.self_attn\.[qv]_proj\.lora_[AB]\.weight$", n));
    }

    [Fact]
    public void All_linear_is_saved_as_the_module_names_it_expanded_to_as_PEFT_does()
    {
        using var model = LoraFixture.Adapted(Fixture, LoraFixture.AllLinear);
        PeftAdapterFolder.Save(model, LoraFixture.AllLinear, _dir, "base");

        var saved = JsonNode.Parse(File.ReadAllText(ConfigPath))!["target_modules"]!.AsArray().Select(n => (string)n!);
        Assert.Equal(LlamaForCausalLM.Projections.Order(StringComparer.Ordinal), saved);
    }

    [Fact]
    public void A_rank_that_does_not_fit_the_tensors_is_refused_naming_the_tensor_and_r()
    {
        SaveTrained(LoraFixture.Config("q_proj", "v_proj"));
        EditConfig(c => c["r"] = 2);

        var error = LoadFails();

        Assert.Contains(PeftAdapterFolder.WeightsFile, error.Message);
        Assert.Contains("wrong shape", error.Message);
        Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: stored [4, 32], r = 2 needs [2, 32]", error.Message);
    }

    [Fact]
    public void A_missing_tensor_is_refused_naming_it()
    {
        SaveTrained(LoraFixture.Config("q_proj", "v_proj"));
        var file = SafetensorsFile.Open(WeightsPath);
        const string dropped = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
        var kept = file.Tensors.Keys.Where(k => k != dropped).ToList();
        var items = kept.Select(k =>
        {
            using var t = file.ReadFloat32(k);
            return new SafetensorsWriter.Item(k, t.shape, t.data<float>().ToArray());
        }).ToList();
        SafetensorsWriter.Write(WeightsPath, items);

        var error = LoadFails();

        Assert.Contains($"missing (1): {dropped}", error.Message);
    }

    [Fact]
    public void A_target_module_the_model_does_not_have_is_refused_naming_the_file_and_field()
    {
        SaveTrained(LoraFixture.Config("q_proj", "v_proj"));
        EditConfig(c => c["target_modules"] = new JsonArray("q_proj", "c_attn"));

        var error = LoadFails();

        Assert.Contains(PeftAdapterFolder.ConfigFile, error.Message);
        Assert.Contains("target_modules", error.Message);
        Assert.Contains("c_attn", error.Message);
    }

    [Theory]
    [InlineData("peft_type", "\"IA3\"", "only LORA")]
    [InlineData("r", "0", "must be positive")]
    [InlineData("bias", "\"all\"", "only \"none\"")]
    [InlineData("use_dora", "true", "DoRA")]
    [InlineData("lora_dropout", "1.5", "[0, 1)")]
    public void A_config_field_we_cannot_honour_is_refused_naming_it(string field, string value, string why)
    {
        SaveTrained(LoraFixture.Config("q_proj", "v_proj"));
        EditConfig(c => c[field] = JsonNode.Parse(value));

        var error = LoadFails();

        Assert.Contains($"{PeftAdapterFolder.ConfigFile}: field '{field}'", error.Message);
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public void A_folder_without_adapter_config_json_is_refused_naming_the_file()
    {
        var error = LoadFails();

        Assert.Contains("has no adapter_config.json", error.Message);
    }

    private void EditConfig(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(ConfigPath))!.AsObject();
        edit(json);
        File.WriteAllText(ConfigPath, json.ToJsonString());
    }

    /// <summary>Loads <see cref="_dir"/> onto a fresh base, expecting a refusal that leaves the base as it was.</summary>
    private ConfigException LoadFails()
    {
        using var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));
        var before = LoraFixture.Logits(model, Fixture);
        var keys = model.state_dict().Keys.ToList();

        var error = Assert.Throws<ConfigException>(() => PeftAdapterFolder.Load(model, _dir));

        Assert.False(LoraAdapters.HasAdapters(model));
        Assert.Equal(keys, model.state_dict().Keys);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
        Assert.Equal(before, LoraFixture.Logits(model, Fixture));
        return error;
    }
}
