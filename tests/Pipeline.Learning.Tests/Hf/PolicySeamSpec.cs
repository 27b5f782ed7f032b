using Pipeline.Core.Configuration;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// A pretrained folder runs through the product's own machinery (PolicySampler, GrpoTrainer, the factory, export) with
/// no code that knows its family: the seam every role uses.
/// </summary>
public sealed class PolicySeamSpec
{
    private static SamplingSettings Greedy(int maxTokens) => new(0, 1, maxTokens, []);

    [Theory]
    [MemberData(nameof(Families))]
    public void The_product_sampler_decodes_each_family_as_the_oracle_greedy_ids(string name)
    {
        var oracle = HfTinyFixture.ReadOracle(name);
        using PolicyNetwork model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(name));
        var sampler = new PolicySampler(model, 1);

        var alone = sampler.Generate([oracle.GreedyPrompt], Greedy(oracle.GreedyIds.Length));
        Assert.Equal(oracle.GreedyIds, alone[0].Tokens);

        // A group shares one prefill broadcast into every row's cache.
        var group = sampler.SampleGroup(oracle.GreedyPrompt, 3, Greedy(oracle.GreedyIds.Length));
        Assert.All(group, c => Assert.Equal(oracle.GreedyIds, c.Tokens));
    }

    public static TheoryData<string> Families() => new(HfTinyFixture.Names);

    [Fact]
    public void Left_padded_prompts_of_different_lengths_decode_as_each_would_alone()
    {
        var oracle = HfTinyFixture.ReadOracle("qwen3-bf16");
        using PolicyNetwork model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder("qwen3-bf16"));
        var sampler = new PolicySampler(model, 1);
        var longer = oracle.GreedyPrompt;
        var shorter = longer[..^2];

        var batch = sampler.Generate([longer, shorter], Greedy(8));
        var shorterAlone = sampler.Generate([shorter], Greedy(8));

        Assert.Equal(oracle.GreedyIds[..8], batch[0].Tokens);
        Assert.Equal(shorterAlone[0].Tokens, batch[1].Tokens);
        Assert.Equal(shorterAlone[0].LogProbs, batch[1].LogProbs, (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public void A_GRPO_step_on_a_pretrained_folder_moves_its_weights_and_keeps_the_HF_names()
    {
        var folder = HfTinyFixture.Folder("qwen2");
        using PolicyNetwork policy = LlamaForCausalLM.FromPretrained(folder);
        using PolicyNetwork reference = LlamaForCausalLM.FromPretrained(folder);
        var names = policy.state_dict().Keys.ToList();
        var before = policy.state_dict()["model.layers.0.self_attn.q_proj.weight"].clone();
        var prompt = HfTinyFixture.ReadOracle("qwen2").GreedyPrompt;
        var sampler = new PolicySampler(policy, 7);
        var rollouts = sampler.SampleGroup(prompt, 4, new SamplingSettings(1.0, 1.0, 6, []));
        var batch = rollouts.Select((c, i) => new TrainSample(prompt, c.Tokens, c.LogProbs, i % 2 == 0 ? 1.0 : -1.0, 0)).ToList();

        using var trainer = new GrpoTrainer(policy, reference, new GrpoSettings(LearningRate: 1e-2, KlCoef: 0.02));
        var stats = trainer.Step(batch);

        Assert.False(stats.Skipped, stats.SkipReason);
        Assert.True(double.IsFinite(stats.Loss));
        Assert.Equal(names, policy.state_dict().Keys.ToList());
        Assert.True(policy.state_dict()["model.layers.0.self_attn.q_proj.weight"].sub(before).abs().max().item<float>() > 0);
    }

    [Fact]
    public void The_factory_makes_an_hf_policy_whose_context_the_folder_caps()
    {
        var folder = HfTinyFixture.Folder("llama-llama3-rope");
        var config = LlamaConfig.Load(folder);
        var settings = new PolicySettings(0, 0, 1, 1, Context: 1_000_000) { Source = "hf", Path = folder };
        var policy = PolicyFactory.From(settings, new VocabularyOnlyTokenizer(config.VocabSize));

        using var model = policy.Create(seed: 3);

        Assert.Equal("hf", policy.Source);
        Assert.Equal(config.MaxPositionEmbeddings, model.ContextLength);
        Assert.Equal(config.VocabSize, model.VocabSize);
        Assert.Equal(model.state_dict().Keys.Order(), policy.ParameterShapes().Keys.Order());
        Assert.Contains("pipeline.policy.hf.hidden_size", policy.CheckpointExtras().Keys);
    }

    [Fact]
    public void A_tokenizer_larger_than_the_models_vocabulary_is_refused_naming_both()
    {
        var folder = HfTinyFixture.Folder("qwen2");
        var vocab = LlamaConfig.Load(folder).VocabSize;
        var settings = new PolicySettings(0, 0, 1, 1, 64) { Source = "hf", Path = folder };

        var error = Assert.Throws<ConfigException>(() => PolicyFactory.From(settings, new VocabularyOnlyTokenizer(vocab + 1)));

        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains($"vocab_size {vocab}", error.Message);
    }

    [Fact]
    public void An_exported_folder_loads_back_to_the_same_logits()
    {
        var folder = HfTinyFixture.Folder("qwen3-bias-tied");
        var oracle = HfTinyFixture.ReadOracle("qwen3-bias-tied");
        using var model = LlamaForCausalLM.FromPretrained(folder);
        using (no_grad())
            foreach (var p in model.parameters()) p.add_(randn_like(p).mul(0.01)); // a "trained" policy, unlike the folder
        var tokenizer = Directory.CreateTempSubdirectory("seam-tok-").FullName;
        var output = Path.Combine(Directory.CreateTempSubdirectory("seam-export-").FullName, "out");
        try
        {
            File.WriteAllText(Path.Combine(tokenizer, HfTokenizer.FileName), "{}");  // export copies tokenizer files as they are
            HfExport.Write(model, Path.Combine(folder, "config.json"), tokenizer, output);
            using var back = LlamaForCausalLM.FromPretrained(output);

            var expected = HfTinyFixture.LogitsOf(model, oracle.Sequences[0]);
            Assert.Equal(expected, HfTinyFixture.LogitsOf(back, oracle.Sequences[0]));
            Assert.True(HfTinyFixture.MaxAbsDiff(oracle.Logits[0], expected) > 1e-3, "the perturbed model should differ from the folder");
            Assert.Equal(model.state_dict().Keys.Order(), SafetensorsFile.Open(Path.Combine(output, "model.safetensors")).Tensors.Keys.Order());
            Assert.True(File.Exists(Path.Combine(output, HfTokenizer.FileName)));
            var error = Assert.Throws<ConfigException>(() => HfExport.Write(model, Path.Combine(folder, "config.json"), tokenizer, output));
            Assert.Contains("not empty", error.Message);
        }
        finally
        {
            Directory.Delete(tokenizer, true);
            Directory.Delete(Path.GetDirectoryName(output)!, true);
        }
    }

    [Fact]
    public void In_bfloat16_a_family_with_q_k_norms_stays_within_2e_2_of_its_fp32_logits_and_samples_in_fp32()
    {
        var oracle = HfTinyFixture.ReadOracle("qwen3-bias-tied");
        using var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder("qwen3-bias-tied"));
        var fp32 = HfTinyFixture.LogitsOf(model, oracle.Sequences[0]);
        model.to(ScalarType.BFloat16);

        float[] bf16;
        using (NewDisposeScope())
        using (no_grad())
            bf16 = model.forward(tensor(oracle.Sequences[0], new long[] { 1, oracle.Sequences[0].Length })).to_type(ScalarType.Float32).data<float>().ToArray();
        var completions = new PolicySampler(model, 1).SampleGroup(oracle.GreedyPrompt, 2, Greedy(4));

        Assert.True(HfTinyFixture.MaxAbsDiff(fp32, bf16) <= 2e-2 * fp32.Max(Math.Abs), $"max abs diff {HfTinyFixture.MaxAbsDiff(fp32, bf16)}");
        Assert.All(completions, c => Assert.Equal(4, c.Tokens.Length));
        Assert.All(completions, c => Assert.All(c.LogProbs, lp => Assert.True(float.IsFinite(lp) && lp <= 0)));
    }
}
