using Pipeline.Learning.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

[Collection(TorchGlobalStateCollection.Name)]
public class CheckpointSpec : IDisposable
{
    private readonly string _runDir = Path.Combine(Path.GetTempPath(), "ckpt-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_runDir)) Directory.Delete(_runDir, recursive: true);
    }

    private static nn.Module<Tensor, Tensor> MakeModel(long seed)
    {
        torch.manual_seed(seed);
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2));
    }

    private static AdamW MakeOptimizer(nn.Module m) =>
        new(m.parameters(), lr: 1e-2, weight_decay: 0.01);

    private static void TrainStep(nn.Module<Tensor, Tensor> model, optim.Optimizer opt, int batch)
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator((ulong)(100 + batch));
        var x = torch.randn(8, 6, generator: gen);
        var y = torch.randn(8, 2, generator: gen);
        opt.zero_grad();
        var loss = nn.functional.mse_loss(model.forward(x), y);
        loss.backward();
        opt.step();
    }

    private static float[] Flat(nn.Module m) =>
        m.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    [Fact]
    public void Checkpoint_round_trips_model_and_optimizer()
    {
        using var model = MakeModel(1);
        using var opt = MakeOptimizer(model);
        for (int i = 0; i < 3; i++) TrainStep(model, opt, i);

        var meta = CheckpointMeta.Create(step: 3, policyVersion: 2, stage: "grpo", dataCursor: 24, seed: 42,
            rngState: [1UL, ulong.MaxValue], extra: new() { ["config"] = "abc", ["api_key"] = "sk-should-not-be-written" });
        var dir = CheckpointStore.Save(_runDir, model, opt, meta, keep: 3);
        Assert.Equal("step-000003", Path.GetFileName(dir));
        foreach (var f in new[] { "model.safetensors", "optimizer.safetensors", "meta.json" })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.DoesNotContain("sk-should-not-be-written", File.ReadAllText(Path.Combine(dir, "meta.json")));
        var savedParams = Flat(model);

        // Uninterrupted run: one more step.
        TrainStep(model, opt, 3);
        var expected = Flat(model);

        // Resumed run: fresh model with a different init and a fresh optimizer.
        using var resumed = MakeModel(99);
        using var opt2 = MakeOptimizer(resumed);
        Assert.NotEqual(savedParams, Flat(resumed));
        var loaded = CheckpointStore.Load(dir, resumed, opt2);
        Assert.Equal(savedParams, Flat(resumed));
        Assert.Equal((3L, 2L, "grpo", 24L, 42L), (loaded.Step, loaded.PolicyVersion, loaded.Stage, loaded.DataCursor, loaded.Seed));
        Assert.Equal(new[] { 1UL, ulong.MaxValue }, loaded.RngState);
        Assert.Equal("abc", loaded.Extra["config"]);
        Assert.False(loaded.Extra.ContainsKey("api_key"));
        Assert.All(opt2.state_dict().State, s => Assert.Equal(3L, ((AdamW.State)s).step));

        TrainStep(resumed, opt2, 3);
        var actual = Flat(resumed);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6, $"param {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void Resuming_without_optimizer_state_would_diverge()
    {
        // Guards the test above: a fresh AdamW after loading only the weights gives a different step.
        using var model = MakeModel(1);
        using var opt = MakeOptimizer(model);
        for (int i = 0; i < 3; i++) TrainStep(model, opt, i);
        var dir = CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(3, 1, "sft"), keep: 0);
        TrainStep(model, opt, 3);
        var expected = Flat(model);

        using var resumed = MakeModel(5);
        using var opt2 = MakeOptimizer(resumed);
        CheckpointStore.Load(dir, resumed, optimizer: null);
        TrainStep(resumed, opt2, 3);
        var actual = Flat(resumed);
        Assert.Contains(Enumerable.Range(0, expected.Length), i => Math.Abs(expected[i] - actual[i]) > 1e-4);
    }

    [Fact]
    public void Find_latest_picks_the_newest_checkpoint()
    {
        Assert.Null(CheckpointStore.FindLatest(_runDir));
        using var model = MakeModel(1);
        foreach (var step in new long[] { 5, 120, 40 })
            CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(step, step / 5, "sft"), keep: 0);
        // An incomplete directory (no meta.json) is ignored.
        Directory.CreateDirectory(Path.Combine(_runDir, "checkpoints", "step-999999"));

        var latest = CheckpointStore.FindLatest(_runDir);
        Assert.NotNull(latest);
        Assert.Equal(120, latest.Value.Meta.Step);
        Assert.Equal(24, latest.Value.Meta.PolicyVersion);
        Assert.Equal("step-000120", Path.GetFileName(latest.Value.Dir));
    }

    [Fact]
    public void Save_keeps_only_the_newest_n_checkpoints()
    {
        using var model = MakeModel(1);
        using var opt = MakeOptimizer(model);
        for (long step = 1; step <= 5; step++)
            CheckpointStore.Save(_runDir, model, opt, CheckpointMeta.Create(step, step, "grpo"), keep: 2);

        var dirs = Directory.GetDirectories(Path.Combine(_runDir, "checkpoints")).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "step-000004", "step-000005" }, dirs);
    }

    [Fact]
    public void Saving_the_same_step_again_replaces_it()
    {
        using var model = MakeModel(1);
        CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(7, 1, "sft"), keep: 0);
        CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(7, 2, "sft"), keep: 0);
        Assert.Equal(2, CheckpointStore.FindLatest(_runDir)!.Value.Meta.PolicyVersion);
        Assert.Single(Directory.GetDirectories(Path.Combine(_runDir, "checkpoints")));
    }

    [Fact]
    public void Load_restores_the_torch_rng_state()
    {
        using var model = MakeModel(1);
        torch.manual_seed(1234);
        var dir = CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(1, 1, "sft"), keep: 0);
        float expected;
        using (torch.NewDisposeScope()) expected = torch.rand(1).item<float>();
        torch.manual_seed(1);
        CheckpointStore.Load(dir, model, null);
        using (torch.NewDisposeScope()) Assert.Equal(expected, torch.rand(1).item<float>());
    }
}
