using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Learning.Checkpoints;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;

namespace Pipeline.Cli.Tests;

/// <summary>
/// A run stopped after its newest checkpoint broke (as a hard kill mid-write or a bad disk leaves it): the resume passes
/// over the broken checkpoint with a warning, continues from the older one, and the logs hold every step once.
/// </summary>
public sealed class ResumeEndToEndSpec : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-resume-").FullName;

    public void Dispose() => Directory.Delete(_runs, recursive: true);

    private static PipelineSettings Settings(params string[] overrides)
        => PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            ["grpo.steps=8", "checkpoint.every-steps=2", "warm-start.max-epochs=2", "eval.limit=10", "metrics.plots=off", .. overrides]);

    [Fact]
    [Trait("Category", "Long")]
    public async Task A_resume_passes_over_a_truncated_checkpoint_with_a_warning_and_logs_each_step_once()
    {
        var runDir = Path.Combine(_runs, "run");
        using var interrupt = new CancellationTokenSource();
        void Observer(MetricsReport r)
        {
            if (r.Data.TryGetValue("policy/version", out var v) && v >= 5) interrupt.Cancel();
        }
        var first = await LocalRun.RunAsync(Settings(), runDir, false, Observer, null, interrupt.Token).WaitAsync(TimeSpan.FromSeconds(240));
        Assert.Equal(RunStatus.Interrupted, first.Status);
        Assert.InRange(first.Step, 5, 7); // checkpoints every 2 steps and the interrupt's
        var checkpoints = Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*").Order(StringComparer.Ordinal).ToList();
        var newest = Path.Combine(runDir, "checkpoints", CheckpointStore.CheckpointDirName(first.Step));
        Assert.Equal(newest, checkpoints[^1]);
        var fallback = checkpoints[^2];
        using (var model = new FileStream(Path.Combine(newest, CheckpointStore.ModelFile), FileMode.Open, FileAccess.Write))
            model.SetLength(model.Length / 2);

        // A configuration that changes the model's shape is refused by name, before anything is cut or loaded.
        var reshaped = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(runDir, LocalRun.ConfigSnapshotFile), ["policy.d-model=128"]);
        var refused = await Assert.ThrowsAsync<ConfigException>(() =>
            LocalRun.RunAsync(reshaped, runDir, true, null, null, CancellationToken.None));
        Assert.Contains("pipeline.policy.d-model is 128 in this configuration but the checkpoint", refused.Message);
        Assert.Contains("trained with 64", refused.Message);

        var said = new List<string>();
        var resumed = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(runDir, LocalRun.ConfigSnapshotFile), []);
        var second = await LocalRun.RunAsync(resumed, runDir, true, null, s => { lock (said) said.Add(s); }, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(240));

        Assert.Equal(RunStatus.Completed, second.Status);
        Assert.Equal(8, second.Step);
        Assert.Contains(said, s => s.StartsWith("warning: ") && s.Contains(newest) && s.Contains(CheckpointStore.ModelFile));
        Assert.Contains(said, s => s.StartsWith("resuming from ") && s.Contains(fallback));

        var grpoSteps = MetricsRecorder.ReadAll(Path.Combine(runDir, MetricsRecorder.JsonlFile))
            .Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Step).ToList();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), grpoSteps);

        var tbSteps = Directory.GetFiles(Path.Combine(runDir, MetricsRecorder.TensorBoardFolder)).Order(StringComparer.Ordinal)
            .SelectMany(f => TensorBoardEvents.Read(f, out _)).Where(e => e.Tags.Contains("policy/version")).Select(e => e.Step).ToList();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), tbSteps);
    }

    [Fact]
    public async Task A_resume_with_no_intact_checkpoint_is_a_clear_error_naming_each_broken_one()
    {
        var runDir = Path.Combine(_runs, "broken");
        var settings = Settings();
        Directory.CreateDirectory(runDir);
        File.WriteAllText(Path.Combine(runDir, LocalRun.ConfigSnapshotFile), LocalRun.ConfigSnapshot(settings));
        var broken = Path.Combine(runDir, "checkpoints", CheckpointStore.CheckpointDirName(3));
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, CheckpointStore.MetaFile), "not json");

        var error = await Assert.ThrowsAsync<ConfigException>(() => LocalRun.RunAsync(settings, runDir, true, null, null, CancellationToken.None));

        Assert.Contains("no intact checkpoint", error.Message);
        Assert.Contains(broken, error.Message);
        Assert.Contains(CheckpointStore.MetaFile, error.Message);
    }
}
