using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Lora;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The real binary, LoRA GRPO on the imported stories260K: checkpoints hold only the adapters, and resume, eval and
/// export work from them; a base folder changed after training is refused by the meta.json field that differs.
/// </summary>
public sealed class AdapterCheckpointEndToEndSpec : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(300);
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-adapter-ckpt-").FullName;

    private static string Fixture => Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "fixtures", "stories260K"));

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int ExitCode, string StdOut, string StdErr) Train(params string[] args)
        => CliProcess.Run(RepoPaths.Root, Deadline, ["train", .. args, "--set", "task.sql.sft-examples=40", "--set", "warm-start.max-epochs=1",
            "--set", "eval.limit=4", "--set", "policy.context=256", "--set", "metrics.plots=off", "--set", "checkpoint.every-steps=0"]);

    [Fact]
    [Trait("Category", "Long")] // six runs of the binary, two of them training: about a minute and a half here
    public void A_LoRA_run_checkpoints_only_adapters_and_resumes_evaluates_and_exports_from_them_until_its_base_changes()
    {
        var model = Path.Combine(_dir, "stories260K");
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "import-llama2c",
            Path.Combine(Fixture, "stories260K.bin"), Path.Combine(Fixture, "tok512.bin"), model);
        Assert.True(code == 0, $"import exited {code}: {stderr}");
        var runs = Path.Combine(_dir, "runs");
        (code, stdout, stderr) = Train("--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"), "--model", model,
            "--set", $"run-dir={System.Text.Json.JsonSerializer.Serialize(runs)}", "--set", "grpo.steps=2", "--set", "policy.lora.enabled=on");
        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        var run = Directory.GetDirectories(runs).Single();

        var first = LocalRun.FindResumePoint(run)!;
        Assert.Equal(2, first.Step);
        foreach (var dir in new[] { first.CheckpointDir, LocalRun.FindReference(run)! })
        {
            Assert.False(File.Exists(Path.Combine(dir, CheckpointStore.ModelFile)), dir);
            Assert.True(File.Exists(Path.Combine(dir, PeftAdapterFolder.WeightsFile)), dir);
            Assert.Equal(Path.GetFullPath(model), CheckpointStore.ReadMeta(dir).BaseModel!.Path);
        }

        (code, stdout, stderr) = Train("--resume", run, "--set", "grpo.steps=3");
        Assert.True(code == 0, $"train --resume exited {code}: {stdout}\n{stderr}");
        Assert.Equal(3, LocalRun.FindResumePoint(run)!.Step);

        (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "eval", "--run", run);
        Assert.True(code == 0, $"eval exited {code}: {stdout}\n{stderr}");
        (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "export", "--run", run, "--out", Path.Combine(_dir, "adapters"));
        Assert.True(code == 0, $"export exited {code}: {stderr}");
        (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "export", "--run", run, "--out", Path.Combine(_dir, "merged"), "--merge-lora");
        Assert.True(code == 0, $"export --merge-lora exited {code}: {stderr}");

        // The base changes under the run (one more byte in config.json): every reader refuses it, naming the field.
        File.AppendAllText(Path.Combine(model, "config.json"), "\n");
        (code, stdout, stderr) = Train("--resume", run, "--set", "grpo.steps=4");
        Assert.Equal(2, code);
        Assert.Contains("baseModel.files[\"config.json\"].size", stdout + stderr);
        (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "export", "--run", run, "--out", Path.Combine(_dir, "late"));
        Assert.Equal(2, code);
        Assert.Contains("baseModel.files[\"config.json\"]", stderr);
        Assert.Equal(3, LocalRun.FindResumePoint(run)!.Step); // nothing was trained or written over the changed base
    }
}
