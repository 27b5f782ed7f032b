using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sft;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// pipeline.policy.dtype = bfloat16, forced on the CPU (CUDA is untested here): bf16 weights, float32 AdamW masters,
/// checkpoints that resume exactly, and weights published between a bf16 learner and a float32 generator.
/// </summary>
[Collection(TorchGlobalStateCollection.Name)]
public sealed class Bf16TrainingSpec : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bf16-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static PolicyFactory Factory(string dtype, bool lora = false)
    {
        var folder = HfTinyFixture.Folder("qwen2");
        var settings = new PolicySettings(0, 0, 1, 1, 64)
        {
            Source = "hf",
            Path = folder,
            Dtype = dtype,
            Lora = lora ? new LoraSettings(true, 4, 8, 0, ["q_proj", "v_proj"]) : LoraSettings.Off,
        };
        return PolicyFactory.From(settings, new VocabularyOnlyTokenizer(LlamaConfig.Load(folder).VocabSize));
    }

    private static SftExample[] Batch(int step, int vocab) => VocabularyOnlyTokenizer.RandomSftBatch(200 + step, vocab);

    private static float[] Values(IEnumerable<Tensor> tensors) =>
        tensors.SelectMany(t => t.detach().to(ScalarType.Float32).cpu().data<float>().ToArray()).ToArray();

    [Fact]
    public void Auto_keeps_float32_on_the_CPU_for_both_sources_and_bfloat16_is_refused_for_the_builtin_model()
    {
        Assert.Equal(ScalarType.Float32, Factory("auto").WeightsDtype(CPU));
        Assert.Equal(ScalarType.BFloat16, Factory("auto").WeightsDtype(new Device(TorchSharp.DeviceType.CUDA)));
        var builtin = PolicyFactory.Builtin(new PolicySettings(64, 16, 1, 2, 32), 64);
        Assert.Equal(ScalarType.Float32, builtin.WeightsDtype(new Device(TorchSharp.DeviceType.CUDA)));

        var error = Assert.Throws<ConfigException>(() => PolicyFactory.From(new PolicySettings(64, 16, 1, 2, 32) { Dtype = "bfloat16" }, new VocabularyOnlyTokenizer(64)));
        Assert.Contains("pipeline.policy.dtype", error.Message);
    }

    [Fact]
    public void Sft_steps_in_bfloat16_change_the_weights_keep_the_loss_finite_and_update_float32_masters()
    {
        var factory = Factory("bfloat16");
        using var policy = factory.Create(seed: 5);
        Assert.All(policy.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        var before = Values(policy.parameters());
        using var trainer = new SftTrainer(policy, learningRate: 1e-2);

        var losses = Enumerable.Range(0, 3).Select(s => trainer.Step(Batch(s, factory.VocabSize))).ToList();

        Assert.All(losses, l => Assert.True(double.IsFinite(l), $"loss {l}"));
        Assert.All(trainer.OptimizedParameters, m => Assert.Equal(ScalarType.Float32, m.dtype));
        Assert.All(policy.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.NotEqual(before, Values(policy.parameters()));
        // The weights are the masters rounded to bf16, and the masters hold more than bf16 can.
        var masters = trainer.OptimizedParameters;
        var rounded = Values(masters.Select(m => m.to(ScalarType.BFloat16)));
        Assert.Equal(rounded, Values(policy.TrainableParameters()));
        Assert.NotEqual(Values(masters), rounded);
    }

    [Fact]
    public void Grpo_steps_on_a_bfloat16_LoRA_policy_train_the_adapters_with_finite_loss()
    {
        var factory = Factory("bfloat16", lora: true);
        using var policy = factory.Create(seed: 5);
        using var trainer = new GrpoTrainer(policy, policy, new GrpoSettings(LearningRate: 1e-2, KlCoef: 0.02));
        var before = Values(LoraAdapters.AdapterTensors(policy).Select(a => (Tensor)a.Tensor));
        var r = new Random(3);
        TrainSample Sample(double advantage) => new(
            Enumerable.Range(0, 4).Select(_ => r.Next(1, factory.VocabSize)).ToArray(),
            Enumerable.Range(0, 3).Select(_ => r.Next(1, factory.VocabSize)).ToArray(),
            [-3f, -3f, -3f], advantage, 0);

        var stats = Enumerable.Range(0, 3).Select(_ => trainer.Step([Sample(1), Sample(-1), Sample(0.5), Sample(-0.5)])).ToList();

        Assert.All(stats, s => Assert.False(s.Skipped, s.SkipReason));
        Assert.All(stats, s => Assert.True(double.IsFinite(s.Loss), $"loss {s.Loss}"));
        Assert.All(trainer.OptimizedParameters, m => Assert.Equal(ScalarType.Float32, m.dtype));
        Assert.NotEqual(before, Values(LoraAdapters.AdapterTensors(policy).Select(a => (Tensor)a.Tensor)));
    }

    [Fact]
    public void A_bfloat16_checkpoint_keeps_the_float32_masters_so_resuming_equals_continuing()
    {
        var factory = Factory("bfloat16");
        var run = Path.Combine(_root, "run");
        string dir;
        float[] continued, continuedMasters;
        using (var policy = factory.Create(seed: 5))
        using (var trainer = new SftTrainer(policy, learningRate: 1e-2))
        {
            for (var s = 0; s < 2; s++) trainer.Step(Batch(s, factory.VocabSize));
            dir = CheckpointStore.Save(run, policy, trainer.Optimizer, CheckpointMeta.Create(2, 2, "sft"), keep: 0);
            for (var s = 2; s < 4; s++) trainer.Step(Batch(s, factory.VocabSize));
            continued = Values(policy.parameters());
            continuedMasters = Values(trainer.OptimizedParameters);
        }

        using var resumed = factory.Create(seed: 5);
        using var again = new SftTrainer(resumed, learningRate: 1e-2);
        CheckpointStore.Load(dir, resumed, again.Optimizer);
        for (var s = 2; s < 4; s++) again.Step(Batch(s, factory.VocabSize));

        Assert.Equal(continuedMasters, Values(again.OptimizedParameters));
        Assert.Equal(continued, Values(resumed.parameters()));
    }

    [Fact]
    public void Weights_published_by_a_bfloat16_learner_arrive_in_a_float32_generator_and_back()
    {
        var learnerFactory = Factory("bfloat16");
        using var learner = learnerFactory.Create(seed: 5);
        using (var trainer = new SftTrainer(learner, learningRate: 1e-2)) trainer.Step(Batch(0, learnerFactory.VocabSize));
        using var generator = learnerFactory.PlacedOn("", "float32").Create(seed: 5);
        Assert.Equal(ScalarType.Float32, generator.parameters().First().dtype);

        WeightTransfer.Import(generator, WeightTransfer.Export(learner, 1));

        Assert.All(generator.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.Equal(Values(learner.parameters()), Values(generator.parameters())); // bf16 widens to float32 exactly
        // And a float32 learner's weights round into a bf16 generator, which stays bf16.
        using var bf16Generator = learnerFactory.Create(seed: 6);
        WeightTransfer.Import(bf16Generator, WeightTransfer.Export(generator, 2));
        Assert.All(bf16Generator.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.Equal(Values(generator.parameters().Select(p => p.to(ScalarType.BFloat16))), Values(bf16Generator.parameters()));
    }
}
