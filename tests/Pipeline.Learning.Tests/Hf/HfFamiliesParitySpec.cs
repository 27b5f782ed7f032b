using Pipeline.Learning.Hf;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// Llama (GQA, llama3 RoPE), Qwen2/Qwen2.5 and Qwen3 folders against logits and greedy ids recorded by an independent
/// PyTorch forward (tests/fixtures/hf-tiny/record.py). Among them: q/k/v biases, q_norm/k_norm, an explicit head_dim,
/// bf16 weights, tied embeddings, one KV head, transformers 5's rope_parameters and layer_types.
/// </summary>
public class HfFamiliesParitySpec
{
    public static TheoryData<string> Fixtures => new(HfTinyFixture.Names);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Each_family_gives_the_oracle_logits_within_1e_4(string name)
    {
        var oracle = HfTinyFixture.ReadOracle(name);
        using var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(name));
        for (var s = 0; s < oracle.Sequences.Length; s++)
        {
            var diff = HfTinyFixture.MaxAbsDiff(oracle.Logits[s], HfTinyFixture.LogitsOf(model, oracle.Sequences[s]));
            Assert.True(diff <= 1e-4, $"{name}, sequence {s}: max abs diff {diff:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Greedy_decoding_with_the_KV_cache_gives_the_oracle_ids(string name)
    {
        var oracle = HfTinyFixture.ReadOracle(name);
        using var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(name));
        var ids = LlamaGenerator.Generate(model, oracle.GreedyPrompt, oracle.GreedyIds.Length, new SamplingOptions(0, 1, 0), []);
        Assert.Equal(oracle.GreedyIds, ids);
    }

    [Fact]
    public void Qwen2_has_biases_on_q_k_v_but_not_on_o_proj_or_the_mlp()
    {
        var config = LlamaConfig.Load(HfTinyFixture.Folder("qwen2"));
        Assert.Equal((true, false, false, false), (config.AttentionBias, config.AttentionOutputBias, config.MlpBias, config.QkNorm));
        using var model = new LlamaForCausalLM(config);
        var names = model.state_dict().Keys.ToHashSet();
        Assert.Contains("model.layers.0.self_attn.k_proj.bias", names);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", names);
    }

    [Fact]
    public void Qwen3_reads_head_dim_and_norms_queries_and_keys_per_head()
    {
        var config = LlamaConfig.Load(HfTinyFixture.Folder("qwen3-bf16"));
        Assert.Equal((16, true, false), (config.HeadDim, config.QkNorm, config.AttentionBias));
        using var model = new LlamaForCausalLM(config);
        Assert.Equal(new long[] { 16 }, model.state_dict()["model.layers.1.self_attn.q_norm.weight"].shape);
        Assert.Equal(new long[] { 64, 32 }, model.state_dict()["model.layers.1.self_attn.q_proj.weight"].shape);
    }

    [Fact]
    public void Qwen_families_take_their_own_defaults_for_fields_a_config_leaves_out()
    {
        using var folder = new HfTinyFixture.Copy("qwen3-bias-tied", c =>
        {
            c.Remove("head_dim");
            c.Remove("num_key_value_heads");
            c.Remove("tie_word_embeddings");
            c["num_attention_heads"] = 32;
        });
        var config = LlamaConfig.Load(folder.Path);
        // Qwen3Config: head_dim 128 (not hidden_size / heads = 1), num_key_value_heads 32, untied.
        Assert.Equal((128, 32, false), (config.HeadDim, config.NumKeyValueHeads, config.TieWordEmbeddings));
    }

    [Fact]
    public void Sliding_window_declared_but_unused_on_every_layer_is_full_attention_and_loads()
    {
        // use_sliding_window on, but max_window_layers covers both layers: HF slides on none of them.
        using var folder = new HfTinyFixture.Copy("qwen2", c =>
        {
            c["use_sliding_window"] = true;
            c["max_window_layers"] = 2;
        });
        var oracle = HfTinyFixture.ReadOracle("qwen2");
        using var model = LlamaForCausalLM.FromPretrained(folder.Path);
        Assert.True(HfTinyFixture.MaxAbsDiff(oracle.Logits[0], HfTinyFixture.LogitsOf(model, oracle.Sequences[0])) <= 1e-4);
    }
}
