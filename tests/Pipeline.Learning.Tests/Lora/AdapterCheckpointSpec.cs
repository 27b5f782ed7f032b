using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sft;
using Pipeline.Learning.Tests.Hf;
using Pipeline.Learning.Tokenization;
using Xunit.Abstractions;

namespace Pipeline.Learning.Tests.Lora;

/// <summary>
/// With LoRA on, a checkpoint holds only the adapters in PEFT's layout (plus their optimizer state, rng, meta and
/// manifest); the base is recorded by path and fingerprint, never copied, and a changed base is refused by field.
/// </summary>
[Collection(TorchGlobalStateCollection.Name)]
public sealed class AdapterCheckpointSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adapter-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static PolicyFactory Factory(string folder, bool lora, params string[] targets)
    {
        var settings = new PolicySettings(0, 0, 1, 1, 64)
        {
            Source = "hf",
            Path = folder,
            Lora = lora ? new LoraSettings(true, 4, 8, 0, targets) : LoraSettings.Off,
        };
        return PolicyFactory.From(settings, new VocabularyOnlyTokenizer(LlamaConfig.Load(folder).VocabSize));
    }

    private static SftExample[] Batch(int step, int vocab) => VocabularyOnlyTokenizer.RandomSftBatch(100 + step, vocab);

    private static float[] Adapters(PolicyNetwork model) =>
        LoraAdapters.AdapterTensors(model).SelectMany(t => t.Tensor.detach().cpu().data<float>().ToArray()).ToArray();

    private string CopyOf(string folder)
    {
        var copy = Path.Combine(_root, "base-" + Path.GetFileName(folder));
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(folder)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }

    [Fact]
    public void Resuming_from_an_adapter_checkpoint_gives_the_same_weights_as_continuing()
    {
        var folder = HfTinyFixture.Folder("qwen2");
        var factory = Factory(folder, lora: true, "q_proj", "v_proj");
        var vocab = factory.VocabSize;
        var run = Path.Combine(_root, "run");

        string dir;
        float[] continued;
        using (var policy = factory.Create(seed: 5))
        using (var trainer = new SftTrainer(policy, learningRate: 1e-2))
        {
            for (var s = 0; s < 2; s++) trainer.Step(Batch(s, vocab));
            dir = CheckpointStore.Save(run, policy, trainer.Optimizer, CheckpointMeta.Create(2, 2, "grpo"), keep: 0, factory.AdapterCheckpoint());
            for (var s = 2; s < 4; s++) trainer.Step(Batch(s, vocab));
            continued = Adapters(policy);
        }

        // A different seed draws different A: only the checkpoint can make the resumed run match.
        using var resumed = factory.Create(seed: 99);
        using var again = new SftTrainer(resumed, learningRate: 1e-2);
        var meta = CheckpointStore.Load(dir, resumed, again.Optimizer);
        for (var s = 2; s < 4; s++) again.Step(Batch(s, vocab));

        Assert.Equal(2, meta.Step);
        Assert.Equal(continued, Adapters(resumed));
        Assert.NotEqual(Adapters(factory.Create(seed: 5)), continued); // the steps did change the adapters
    }

    [Fact]
    public void An_adapter_checkpoint_holds_PEFT_files_and_no_base_weights_and_records_the_base()
    {
        var folder = HfTinyFixture.Folder("qwen2");
        var factory = Factory(folder, lora: true, "q_proj", "v_proj");
        using var policy = factory.Create(seed: 5);
        using var trainer = new SftTrainer(policy, learningRate: 1e-2);
        trainer.Step(Batch(0, factory.VocabSize));

        var dir = CheckpointStore.Save(Path.Combine(_root, "run"), policy, trainer.Optimizer, CheckpointMeta.Create(1, 1, "grpo"), 0, factory.AdapterCheckpoint());

        var files = Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "adapter_config.json", "adapter_model.safetensors", "manifest.json", "meta.json", "optimizer.safetensors", "rng.safetensors" }, files);
        var keys = SafetensorsHeader.ReadShapes(Path.Combine(dir, PeftAdapterFolder.WeightsFile)).Keys.ToList();
        Assert.Equal(LoraAdapters.AdapterTensors(policy).Select(t => "base_model.model." + t.Name).Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));
        // AdamW holds state for the adapters only: exp_avg of each has the adapter's shape.
        var optimizer = SafetensorsHeader.ReadShapes(Path.Combine(dir, CheckpointStore.OptimizerFile));
        Assert.Equal(LoraAdapters.AdapterTensors(policy).Count, optimizer.Keys.Count(k => k.EndsWith(".exp_avg", StringComparison.Ordinal)));
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapterFolder.ConfigFile)));
        Assert.Equal("LORA", config.RootElement.GetProperty("peft_type").GetString());
        Assert.Equal(Path.GetFullPath(folder), config.RootElement.GetProperty("base_model_name_or_path").GetString());

        var check = CheckpointStore.Check(dir);
        Assert.True(check.Intact, check.Problem);
        Assert.Equal(CheckpointStore.AdapterFormat, check.Meta!.Format);
        Assert.Equal(Path.GetFullPath(folder), check.Meta.BaseModel!.Path);
        Assert.Contains("config.json", check.Meta.BaseModel.Files.Keys);
        Assert.Contains("model.safetensors", check.Meta.BaseModel.Files.Keys);
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData("model.safetensors")]
    public void A_base_that_changed_since_the_checkpoint_is_refused_naming_the_meta_field(string changed)
    {
        var folder = CopyOf(HfTinyFixture.Folder("qwen2"));
        var factory = Factory(folder, lora: true, "q_proj", "v_proj");
        using var policy = factory.Create(seed: 5);
        var dir = CheckpointStore.Save(Path.Combine(_root, "run"), policy, null, CheckpointMeta.Create(1, 1, "grpo"), 0, factory.AdapterCheckpoint());
        CheckpointStore.RequireSameBase(dir, folder); // unchanged: accepted

        // Same size, one byte different: the last byte of the file (JSON whitespace, or the last weight's last byte).
        var path = Path.Combine(folder, changed);
        var bytes = File.ReadAllBytes(path);
        bytes[^1] = changed == "config.json" ? (byte)(bytes[^1] == (byte)' ' ? '\n' : ' ') : (byte)(bytes[^1] ^ 0x01);
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<ConfigException>(() => CheckpointStore.RequireSameBase(dir, folder));
        Assert.Contains($"baseModel.files[\"{changed}\"].sha256", error.Message);
        Assert.Contains(dir, error.Message);
    }

    [Fact]
    public void An_adapter_checkpoint_refuses_a_model_without_adapters_and_a_configuration_without_a_base()
    {
        var folder = HfTinyFixture.Folder("qwen2");
        var factory = Factory(folder, lora: true, "q_proj", "v_proj");
        using var policy = factory.Create(seed: 5);
        var dir = CheckpointStore.Save(Path.Combine(_root, "run"), policy, null, CheckpointMeta.Create(1, 1, "grpo"), 0, factory.AdapterCheckpoint());

        using var plain = Factory(folder, lora: false).Create(seed: 5);
        var load = Assert.Throws<InvalidDataException>(() => CheckpointStore.Load(dir, plain, null));
        Assert.Contains("only LoRA adapters", load.Message);
        var check = Assert.Throws<ConfigException>(() => CheckpointStore.RequireSameBase(dir, null));
        Assert.Contains("pipeline.policy.lora.enabled", check.Message);
    }

    [Fact]
    public void Full_fine_tuning_keeps_full_weight_checkpoints()
    {
        var factory = Factory(HfTinyFixture.Folder("qwen2"), lora: false);
        using var policy = factory.Create(seed: 5);

        Assert.Null(factory.AdapterCheckpoint());
        var dir = CheckpointStore.Save(Path.Combine(_root, "run"), policy, null, CheckpointMeta.Create(1, 1, "grpo"), 0, factory.AdapterCheckpoint());
        Assert.True(File.Exists(Path.Combine(dir, CheckpointStore.ModelFile)));
        Assert.False(File.Exists(Path.Combine(dir, PeftAdapterFolder.WeightsFile)));
        Assert.Equal(CheckpointStore.FullWeightsFormat, CheckpointStore.ReadMeta(dir).Format);
        Assert.Null(CheckpointStore.ReadMeta(dir).BaseModel);
    }

    [Fact]
    public void On_stories260K_a_LoRA_checkpoint_is_a_small_fraction_of_a_full_one()
    {
        var folder = Path.Combine(_root, "stories260K");
        var fixture = Stories260KSpec.FixtureDir;
        Llama2cImporter.Import(Path.Combine(fixture, "stories260K.bin"), Path.Combine(fixture, "tok512.bin"), folder);

        long Size(PolicyFactory factory, string name)
        {
            using var policy = factory.Create(seed: 5);
            using var trainer = new SftTrainer(policy, learningRate: 1e-3);
            trainer.Step(Batch(0, factory.VocabSize)); // so AdamW's state exists and is saved
            var dir = CheckpointStore.Save(Path.Combine(_root, name), policy, trainer.Optimizer, CheckpointMeta.Create(1, 1, "grpo"), 0, factory.AdapterCheckpoint());
            return Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);
        }

        var full = Size(Factory(folder, lora: false), "full");
        var lora = Size(Factory(folder, lora: true, "q_proj", "v_proj"), "lora");

        output.WriteLine($"stories260K checkpoint: full fine-tuning {full:N0} bytes, LoRA r=4 on q_proj,v_proj {lora:N0} bytes ({100.0 * lora / full:F1} %)");
        Assert.True(lora * 10 < full, $"LoRA checkpoint {lora} bytes is not under a tenth of the full one ({full} bytes)");
    }
}
