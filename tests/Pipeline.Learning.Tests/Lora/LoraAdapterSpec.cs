using Pipeline.Core.Configuration;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Model;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Sft;
using Pipeline.Learning.Tests.Hf;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Lora;

/// <summary>
/// LoRA on the HF policy: adapters sit beside the base under PEFT's names, only they train, the base with adapters
/// disabled is the KL reference, and merging gives the adapted model's outputs.
/// </summary>
public sealed class LoraAdapterSpec
{
    private const string Fixture = "qwen2";

    [Fact]
    public void Attaching_adapters_keeps_every_base_name_and_adds_lora_A_and_B_beside_the_targets_only()
    {
        using var plain = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));
        using var model = LoraFixture.Adapted(Fixture, LoraFixture.Config("q_proj", "v_proj"));
        var baseNames = plain.state_dict().Keys.ToList();
        var state = model.state_dict();

        Assert.All(baseNames, n => Assert.True(state.ContainsKey(n), n));
        var added = state.Keys.Except(baseNames).Order(StringComparer.Ordinal).ToList();
        var layers = LlamaConfig.Load(HfTinyFixture.Folder(Fixture)).NumHiddenLayers;
        var expected = Enumerable.Range(0, layers)
            .SelectMany(i => new[] { "q_proj", "v_proj" }.SelectMany(p => new[] { "lora_A", "lora_B" }.Select(ab => $"model.layers.{i}.self_attn.{p}.{ab}.weight")))
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, added);
        Assert.Equal(new long[] { 4, 32 }, state["model.layers.0.self_attn.q_proj.lora_A.weight"].shape);
        Assert.Equal(new long[] { 32, 4 }, state["model.layers.0.self_attn.q_proj.lora_B.weight"].shape);
        Assert.Equal(new long[] { 16, 4 }, state["model.layers.1.self_attn.v_proj.lora_B.weight"].shape); // 2 kv heads x head_dim 8
        // B starts at zero: a fresh adapter leaves the outputs exactly as the base's.
        Assert.Equal(LoraFixture.Logits(plain, Fixture), LoraFixture.Logits(model, Fixture));
    }

    [Fact]
    public void All_linear_adapts_every_attention_and_MLP_projection_and_never_lm_head()
    {
        using var model = LoraFixture.Adapted("llama-llama3-rope", LoraFixture.AllLinear);

        var adapted = LoraAdapters.Projections(model).Where(p => p.Layer.HasAdapter).Select(p => p.Path[(p.Path.LastIndexOf('.') + 1)..]).Distinct().Order();
        Assert.Equal(LlamaForCausalLM.Projections.Order(), adapted);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("lm_head.lora", StringComparison.Ordinal));
    }

    [Fact]
    public void Only_the_adapters_require_grad_once_attached()
    {
        using var model = LoraFixture.Adapted(Fixture, LoraFixture.Config("q_proj", "v_proj"));

        var trainable = model.TrainableParameters();
        var adapters = LoraAdapters.AdapterTensors(model);
        Assert.Equal(adapters.Count, trainable.Count);
        Assert.All(adapters, a => Assert.Contains(trainable, p => ReferenceEquals(p, a.Tensor)));
        Assert.False(model.state_dict()["model.embed_tokens.weight"].requires_grad);
        Assert.False(model.state_dict()["model.layers.0.self_attn.q_proj.weight"].requires_grad);
    }

    [Fact]
    public void A_target_module_the_model_lacks_is_refused_naming_it_and_leaves_the_model_untouched()
    {
        using var model = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));

        var error = Assert.Throws<ConfigException>(() => LoraAdapters.Attach(model, LoraFixture.Config("q_proj", "qkv_proj"), 1));

        Assert.Contains("qkv_proj", error.Message);
        Assert.Contains("pipeline.policy.lora.target-modules", error.Message);
        Assert.DoesNotContain("q_proj,", error.Message.Split("match no")[0]); // only the unknown one is blamed
        Assert.False(LoraAdapters.HasAdapters(model));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void With_adapters_disabled_the_model_computes_the_base_and_they_return_afterwards()
    {
        using var plain = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));
        using var model = LoraFixture.Adapted(Fixture, LoraFixture.Config("q_proj", "v_proj", "down_proj"));
        LoraFixture.Train(model);
        var baseLogits = LoraFixture.Logits(plain, Fixture);
        var adapted = LoraFixture.Logits(model, Fixture);
        Assert.True(HfTinyFixture.MaxAbsDiff(baseLogits, adapted) > 1e-2, "trained adapters should change the logits");

        using (LoraAdapters.AdaptersDisabled(model))
            Assert.Equal(baseLogits, LoraFixture.Logits(model, Fixture));

        Assert.Equal(adapted, LoraFixture.Logits(model, Fixture));
    }

    [Theory]
    [InlineData("qwen2", "q_proj,v_proj")]
    [InlineData("llama-llama3-rope", "all-linear")]
    [InlineData("qwen3-bias-tied", "q_proj,k_proj,o_proj,up_proj")]
    public void A_merged_model_gives_the_adapter_models_logits(string fixture, string targets)
    {
        var config = targets == "all-linear" ? LoraFixture.AllLinear : LoraFixture.Config(targets.Split(','));
        using var plain = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(fixture));
        using var model = LoraFixture.Adapted(fixture, config);
        LoraFixture.Train(model);
        var adapted = LoraFixture.Logits(model, fixture);

        LoraAdapters.MergeAndUnload(model);

        var merged = LoraFixture.Logits(model, fixture);
        Assert.True(HfTinyFixture.MaxAbsDiff(adapted, merged) <= 1e-5, $"max abs diff {HfTinyFixture.MaxAbsDiff(adapted, merged)}");
        Assert.True(HfTinyFixture.MaxAbsDiff(LoraFixture.Logits(plain, fixture), merged) > 1e-2, "the merge must carry the adapters' change");
        Assert.False(LoraAdapters.HasAdapters(model));
        Assert.Equal(plain.state_dict().Keys, model.state_dict().Keys);
    }

    [Fact]
    public void An_adapted_projection_leaves_only_its_output_in_the_callers_dispose_scope_and_still_backpropagates()
    {
        using var layer = new LoraLinear(8, 6, hasBias: true);
        using (var generator = new Generator(3)) layer.Attach(2, 1.5, 0.0, generator);
        using (no_grad()) layer.LoraB.copy_(randn(6, 2));
        using var x = randn(4, 8);
        using var scope = NewDisposeScope();

        var y = layer.forward(x);

        // The adapter's intermediate results (x A^T, its product with B^T, the scaled product, the base output) are
        // disposed inside forward; held in the scope until a training step ends they cost more than LoRA saves.
        Assert.Equal(1, scope.DisposablesCount);
        var expected = x.matmul(layer.Weight.t()).add(layer.get_parameter("bias")!).add(x.matmul(layer.LoraA.t()).matmul(layer.LoraB.t()).mul(1.5));
        Assert.True(y.allclose(expected, rtol: 1e-5, atol: 1e-6), "forward must still compute x W^T + b + scaling x A^T B^T");
        y.sum().backward();
        // d sum / d A = scaling * B^T 1 x summed over rows, which is nonzero once B is.
        var expectedGradA = layer.LoraB.t().matmul(ones(6, 4)).matmul(x).mul(1.5);
        Assert.True(layer.LoraA.grad!.allclose(expectedGradA, rtol: 1e-5, atol: 1e-6), "lora_A's gradient must flow through the disposed temporaries");
        Assert.NotNull(layer.LoraB.grad);
    }

    [Fact]
    public void A_GRPO_step_trains_only_the_adapters_and_AdamW_holds_only_them()
    {
        using var policy = LoraFixture.Adapted(Fixture, LoraFixture.Config("q_proj", "v_proj"));
        var baseBefore = policy.state_dict().Where(kv => !kv.Key.Contains(".lora_")).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var bBefore = policy.state_dict()["model.layers.0.self_attn.q_proj.lora_B.weight"].clone();

        using var trainer = new GrpoTrainer(policy, policy, new GrpoSettings(LearningRate: 1e-2, WeightDecay: 0.1, KlCoef: 0.05));
        var stats = trainer.Step(Batch(policy));

        Assert.False(stats.Skipped, stats.SkipReason);
        var optimised = trainer.Optimizer.parameters().ToList();
        Assert.Equal(LoraAdapters.AdapterTensors(policy).Count, optimised.Count);
        Assert.All(baseBefore, kv => Assert.Equal(0, policy.state_dict()[kv.Key].sub(kv.Value).abs().max().item<float>()));
        Assert.True(policy.state_dict()["model.layers.0.self_attn.q_proj.lora_B.weight"].sub(bBefore).abs().max().item<float>() > 0);
    }

    [Fact]
    public void The_policy_as_its_own_reference_anchors_KL_to_the_base_without_a_second_copy()
    {
        using var policy = LoraFixture.Adapted(Fixture, LoraFixture.Config("q_proj", "v_proj"));
        var batch = Batch(policy);
        var settings = new GrpoSettings(LearningRate: 0, KlCoef: 0.05);

        // Fresh adapters (B = 0): the policy is its base, so the KL to the reference is exactly zero.
        using (var fresh = new GrpoTrainer(policy, policy, settings))
            Assert.Equal(0, fresh.Step(batch).Kl);

        // Trained adapters: the reference (adapters off) differs from the policy, so the KL is positive; a reference
        // that were the adapted policy itself would give zero again.
        LoraFixture.Train(policy);
        using var trainer = new GrpoTrainer(policy, policy, settings);
        var stats = trainer.Step(batch);
        Assert.False(stats.Skipped, stats.SkipReason);
        Assert.True(stats.Kl > 1e-4, $"KL {stats.Kl}");
        Assert.True(LoraAdapters.Projections(policy).All(p => p.Layer.AdapterEnabled), "the step must switch the adapters back on");
    }

    [Fact]
    public void A_policy_without_adapters_still_cannot_be_its_own_reference()
    {
        using var policy = LlamaForCausalLM.FromPretrained(HfTinyFixture.Folder(Fixture));

        var error = Assert.Throws<ArgumentException>(() => new GrpoTrainer(policy, policy, new GrpoSettings()));

        Assert.Contains("LoRA", error.Message);
    }

    [Fact]
    public void An_SFT_step_trains_only_the_adapters()
    {
        using var policy = LoraFixture.Adapted(Fixture, LoraFixture.Config("q_proj", "v_proj"));
        var embed = policy.state_dict()["model.embed_tokens.weight"].clone();
        var b = policy.state_dict()["model.layers.1.self_attn.v_proj.lora_B.weight"].clone();
        using var trainer = new SftTrainer(policy, learningRate: 1e-2, weightDecay: 0.1);

        var loss = trainer.Step([new SftExample([1, 5, 9], [3, 17, 2])]);

        Assert.True(double.IsFinite(loss));
        Assert.Equal(LoraAdapters.AdapterTensors(policy).Count, trainer.Optimizer.parameters().Count());
        Assert.Equal(0, policy.state_dict()["model.embed_tokens.weight"].sub(embed).abs().max().item<float>());
        Assert.True(policy.state_dict()["model.layers.1.self_attn.v_proj.lora_B.weight"].sub(b).abs().max().item<float>() > 0);
    }

    private static List<TrainSample> Batch(PolicyNetwork policy)
    {
        var prompt = HfTinyFixture.ReadOracle(Fixture).GreedyPrompt;
        var rollouts = new PolicySampler(policy, 7).SampleGroup(prompt, 4, new SamplingSettings(1.0, 1.0, 6, []));
        return rollouts.Select((c, i) => new TrainSample(prompt, c.Tokens, c.LogProbs, i % 2 == 0 ? 1.0 : -1.0, 0)).ToList();
    }
}
