using System.Text.Json;
using Pipeline.Learning.Hf;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Hf;

public class LlamaLoaderSpec
{
    [Fact]
    public void Parameter_names_are_the_Hugging_Face_state_dict_names()
    {
        using var folder = new TinyLlamaFolder();
        var names = folder.Items.Select(i => i.Name).ToHashSet();
        var expected = new HashSet<string> { "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight" };
        for (var l = 0; l < 2; l++)
        {
            foreach (var p in new[] { "q_proj", "k_proj", "v_proj", "o_proj" }) expected.Add($"model.layers.{l}.self_attn.{p}.weight");
            foreach (var p in new[] { "gate_proj", "up_proj", "down_proj" }) expected.Add($"model.layers.{l}.mlp.{p}.weight");
            expected.Add($"model.layers.{l}.input_layernorm.weight");
            expected.Add($"model.layers.{l}.post_attention_layernorm.weight");
        }
        Assert.Equal(expected, names);
        // Grouped-query attention: 2 KV heads of size 4 for 4 query heads.
        Assert.Equal(new long[] { 8, 16 }, folder.Items.Single(i => i.Name == "model.layers.0.self_attn.k_proj.weight").Shape);
    }

    [Fact]
    public void A_saved_folder_loads_back_to_the_same_logits()
    {
        using var folder = new TinyLlamaFolder();
        using var loaded = LlamaForCausalLM.FromPretrained(folder.Path);
        var logits = TinyLlamaFolder.LogitsOf(loaded);
        Assert.Equal(folder.Logits.Length, logits.Length);
        for (var i = 0; i < logits.Length; i++) Assert.Equal(folder.Logits[i], logits[i], 5);
    }

    [Theory]
    [InlineData("BF16", 0.0039)]
    [InlineData("F16", 0.0005)]
    public void Half_precision_weights_on_disk_load_as_float32_copies_of_the_rounded_values(string dtype, double relative)
    {
        using var folder = new TinyLlamaFolder(dtype: dtype);
        var file = SafetensorsFile.Open(folder.File_("model.safetensors"));
        Assert.All(file.Tensors.Values, e => Assert.Equal(dtype, e.Dtype));
        using var loaded = LlamaForCausalLM.FromPretrained(folder.Path);
        var state = loaded.state_dict();
        foreach (var item in folder.Items)
        {
            var values = state[item.Name].data<float>().ToArray();
            for (var i = 0; i < values.Length; i++) Assert.True(Math.Abs(values[i] - item.Values[i]) <= relative * Math.Abs(item.Values[i]) + 1e-7, $"{item.Name}[{i}]: {values[i]} vs {item.Values[i]}");
        }
    }

    [Theory]
    [InlineData("F32", 7)]
    [InlineData("BF16", 7)]
    [InlineData("F16", 5)]
    [InlineData("F32", 1 << 22)]
    public void Reading_into_a_parameter_chunk_by_chunk_gives_the_same_values_as_a_whole_read(string dtype, int chunk)
    {
        using var folder = new TinyLlamaFolder(dtype: dtype);
        var file = SafetensorsFile.Open(folder.File_("model.safetensors"));
        foreach (var name in file.Tensors.Keys)
        {
            using var whole = file.ReadFloat32(name);
            // A parameter target, as the loader fills, pre-set to a value no weight has, so a skipped chunk shows.
            using var target = nn.Parameter(full(whole.shape, 1e9f));
            using (no_grad()) file.ReadInto(name, target, chunk);
            Assert.Equal(whole.data<float>().ToArray(), target.detach().data<float>().ToArray());
        }
    }

    [Fact]
    public void A_loaded_model_has_the_fresh_models_names_and_every_parameter_trainable_and_equal_to_the_checkpoint()
    {
        using var folder = new TinyLlamaFolder();
        using var loaded = LlamaForCausalLM.FromPretrained(folder.Path);
        using var fresh = new LlamaForCausalLM(LlamaConfig.Load(folder.Path));
        var state = loaded.state_dict();
        Assert.Equal(fresh.state_dict().Keys.Order(), state.Keys.Order());
        Assert.All(loaded.parameters(), p => Assert.True(p.requires_grad));
        foreach (var item in folder.Items) Assert.Equal(item.Values, state[item.Name].detach().data<float>().ToArray());
    }

    [Fact]
    public void Reading_into_a_target_of_another_size_names_the_tensor()
    {
        using var folder = new TinyLlamaFolder();
        var file = SafetensorsFile.Open(folder.File_("model.safetensors"));
        using var target = zeros(3);
        var e = Assert.Throws<ArgumentException>(() => file.ReadInto("model.norm.weight", target));
        Assert.Contains("model.norm.weight", e.Message);
    }

    [Fact]
    public void Tied_embeddings_use_the_embedding_as_the_output_head()
    {
        using var tied = new TinyLlamaFolder(TinyLlamaFolder.ConfigJson.Replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true"));
        Assert.DoesNotContain(tied.Items, i => i.Name == "lm_head.weight");
        // The same weights, untied, with lm_head.weight a copy of the embedding: the logits must agree.
        using var untied = new TinyLlamaFolder();
        var embedding = tied.Items.Single(i => i.Name == "model.embed_tokens.weight");
        SafetensorsWriter.Write(untied.File_("model.safetensors"), tied.Items.Append(embedding with { Name = "lm_head.weight" }).ToList());
        using var tiedModel = LlamaForCausalLM.FromPretrained(tied.Path);
        using var untiedModel = LlamaForCausalLM.FromPretrained(untied.Path);
        var a = TinyLlamaFolder.LogitsOf(tiedModel);
        var b = TinyLlamaFolder.LogitsOf(untiedModel);
        Assert.Equal(tied.Logits, a);
        Assert.Equal(a, b);
    }

    [Fact]
    public void A_sharded_checkpoint_loads_through_its_index()
    {
        using var folder = new TinyLlamaFolder();
        File.Delete(folder.File_("model.safetensors"));
        var first = folder.Items.Where((_, i) => i % 2 == 0).ToList();
        var second = folder.Items.Where((_, i) => i % 2 == 1).ToList();
        SafetensorsWriter.Write(folder.File_("model-00001-of-00002.safetensors"), first);
        SafetensorsWriter.Write(folder.File_("model-00002-of-00002.safetensors"), second);
        var map = first.ToDictionary(i => i.Name, _ => "model-00001-of-00002.safetensors");
        foreach (var i in second) map[i.Name] = "model-00002-of-00002.safetensors";
        File.WriteAllText(folder.File_("model.safetensors.index.json"), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));

        using var loaded = LlamaForCausalLM.FromPretrained(folder.Path);
        Assert.Equal(folder.Logits, TinyLlamaFolder.LogitsOf(loaded));
    }

    [Fact]
    public void A_shard_the_index_names_but_the_folder_lacks_is_named_in_the_error()
    {
        using var folder = new TinyLlamaFolder();
        File.Move(folder.File_("model.safetensors"), folder.File_("model-00001-of-00002.safetensors"));
        var map = folder.Items.ToDictionary(i => i.Name, _ => "model-00001-of-00002.safetensors");
        map["lm_head.weight"] = "model-00002-of-00002.safetensors";
        File.WriteAllText(folder.File_("model.safetensors.index.json"), JsonSerializer.Serialize(new { weight_map = map }));
        var e = Assert.Throws<Pipeline.Core.Configuration.ConfigException>(() => LlamaForCausalLM.FromPretrained(folder.Path).Dispose());
        Assert.Contains("shard model-00002-of-00002.safetensors (for 'lm_head.weight') is missing", e.Message);
    }

    [Fact]
    public void Decoding_with_the_KV_cache_gives_the_logits_of_a_full_forward()
    {
        using var folder = new TinyLlamaFolder();
        using var model = LlamaForCausalLM.FromPretrained(folder.Path);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var seq = TinyLlamaFolder.Sequence;
        var full = model.forward(tensor(seq, new long[] { 1, seq.Length }))[0];
        using var cache = model.NewCache(1, seq.Length).Detached();
        // A 3-token prefill, a 2-token step after cached positions (explicit mask), then one token at a time.
        var steps = new List<Tensor>
        {
            model.Forward(tensor(seq[..3], new long[] { 1, 3 }), cache)[0],
            model.Forward(tensor(seq[3..5], new long[] { 1, 2 }), cache)[0],
        };
        for (var i = 5; i < seq.Length; i++) steps.Add(model.Forward(tensor(new[] { seq[i] }, new long[] { 1, 1 }), cache)[0]);
        var incremental = cat(steps, 0);
        Assert.Equal(seq.Length, cache.Length);
        Assert.True(incremental.allclose(full, 1e-4, 1e-5), $"max diff {(incremental - full).abs().max().item<float>()}");
    }
}
