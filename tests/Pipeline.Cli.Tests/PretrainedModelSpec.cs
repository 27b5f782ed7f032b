using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Policy;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;

namespace Pipeline.Cli.Tests;

/// <summary>The real binary on the real llama2.c checkpoint in ../shared/fixtures/stories260K: import, generate, train, export.</summary>
public sealed class PretrainedModelSpec : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-model-").FullName;

    private static string Fixture => Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "fixtures", "stories260K"));

    public void Dispose() => Directory.Delete(_dir, true);

    private string Import()
    {
        var output = Path.Combine(_dir, "stories260K");
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "import-llama2c",
            Path.Combine(Fixture, "stories260K.bin"), Path.Combine(Fixture, "tok512.bin"), output);
        Assert.True(code == 0, $"import exited {code}: {stderr}");
        Assert.Contains("5 layers, dim 64, 8 heads (4 KV)", stdout);
        return output;
    }

    /// <summary>train --model on the smoke configuration, shrunk to an SFT epoch on 40 demonstrations and two GRPO steps.</summary>
    private static (int ExitCode, string StdOut, string StdErr) TrainSmoke(string model, string runs, params string[] extra)
        => CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(300), ["train", "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            "--model", model, "--set", $"run-dir={System.Text.Json.JsonSerializer.Serialize(runs)}", "--set", "task.sql.sft-examples=40",
            "--set", "warm-start.max-epochs=1", "--set", "grpo.steps=2", "--set", "eval.limit=4", "--set", "policy.context=256",
            "--set", "metrics.plots=off", "--set", "checkpoint.every-steps=0", .. extra]);

    [Fact]
    public void Greedy_generation_from_the_imported_stories260K_reproduces_upstream_llama2c_exactly()
    {
        var model = Import();
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", model, "--max-tokens", "200", "--temperature", "0", "--ids");
        Assert.True(code == 0, $"generate exited {code}: {stderr}");
        var lastLine = stdout.TrimEnd('\n').LastIndexOf('\n');
        var text = stdout[..lastLine];
        var ids = stdout[(lastLine + 1)..].TrimEnd('\n');
        Assert.Equal(File.ReadAllText(Path.Combine(Fixture, "expected_greedy_200.txt")), text);
        Assert.StartsWith("ids: 403 407 261 378 432 383 286 261 376 298 315 421 395 317 426 ", ids);
        Assert.Equal(200, ids.Split(' ').Length - 1);
    }

    [Fact]
    public void A_model_folder_without_config_json_exits_with_code_2_naming_the_file()
    {
        var model = Import();
        File.Delete(Path.Combine(model, "config.json"));
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", model, "--max-tokens", "5");
        Assert.Equal(2, code);
        Assert.Contains("config.json", stderr);
        Assert.DoesNotContain("   at ", stderr); // one clear line, no stack trace
    }

    [Fact]
    public void An_unsupported_rope_scaling_exits_with_code_2_naming_the_field()
    {
        var model = Import();
        var config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"rope_scaling\": null", "\"rope_scaling\": { \"rope_type\": \"yarn\", \"factor\": 4.0 }"));
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", model);
        Assert.Equal(2, code);
        Assert.Contains("rope_scaling.rope_type' is 'yarn'", stderr);
    }

    [Fact]
    public void GRPO_from_the_imported_folder_runs_end_to_end_and_its_export_generates_the_checkpoints_greedy_ids()
    {
        var model = Import();
        var runs = Path.Combine(_dir, "runs");
        var (code, stdout, stderr) = TrainSmoke(model, runs);
        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains("Hugging Face policy", stdout);
        Assert.Contains("step 2/2", stdout);
        var run = Directory.GetDirectories(runs).Single();

        var exported = Path.Combine(_dir, "exported");
        (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "export", "--run", run, "--out", exported);
        Assert.True(code == 0, $"export exited {code}: {stderr}");
        Assert.Contains("stage grpo, step 2", stdout);

        int[] Greedy(string folder)
        {
            var (c, o, e) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", folder, "--prompt", "How many", "--max-tokens", "24", "--temperature", "0", "--ids");
            Assert.True(c == 0, $"generate exited {c}: {e}");
            return o.TrimEnd('\n').Split('\n')[^1]["ids: ".Length..].Split(' ').Select(int.Parse).ToArray();
        }
        var fromExport = Greedy(exported);

        // The same checkpoint, loaded in this process through the factory, decodes to the same ids.
        var settings = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(run, LocalRun.ConfigSnapshotFile), []);
        var tokenizer = PolicyFactory.LoadTokenizer(settings.Policy, Path.Combine(run, LocalRun.TokenizerFolder));
        var policy = PolicyFactory.From(settings.Policy, tokenizer);
        using var trained = (LlamaForCausalLM)policy.Create(0);
        CheckpointStore.Load(LocalRun.FindResumePoint(run)!.CheckpointDir, trained, null);
        var prompt = tokenizer.EncodePrompt("How many");
        var inProcess = LlamaGenerator.Generate(trained, prompt, 24, new SamplingOptions(0, 1, 0), trained.Config.EosTokenIds ?? []);
        Assert.Equal(inProcess, fromExport);
        Assert.NotEqual(Greedy(model), fromExport); // the warm-start and GRPO moved the weights
    }

    [Fact]
    public void Train_with_a_folder_that_is_not_a_model_exits_with_code_2_and_creates_no_run_folder()
    {
        var runs = Path.Combine(_dir, "runs");
        var notAModel = Directory.CreateDirectory(Path.Combine(_dir, "not-a-model")).FullName;
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--model", notAModel,
            "--set", $"run-dir={System.Text.Json.JsonSerializer.Serialize(runs)}");
        Assert.Equal(2, code);
        Assert.Contains("config.json", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(runs) && Directory.EnumerateFileSystemEntries(runs).Any(), "a refused start must leave no run folder");
    }

    [Fact]
    public void LoRA_GRPO_exports_a_PEFT_adapter_folder_and_a_merged_model_that_generates_the_adapted_checkpoints_ids()
    {
        var model = Import();
        var runs = Path.Combine(_dir, "runs");
        var (code, stdout, stderr) = TrainSmoke(model, runs, "--set", "policy.lora.enabled=on", "--set", "policy.lora.target-modules=all-linear");
        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        var run = Directory.GetDirectories(runs).Single();

        var adapters = Path.Combine(_dir, "adapters");
        (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "export", "--run", run, "--out", adapters);
        Assert.True(code == 0, $"export exited {code}: {stderr}");
        Assert.True(File.Exists(Path.Combine(adapters, "adapter_config.json")));
        var names = SafetensorsFile.Open(Path.Combine(adapters, "adapter_model.safetensors")).Tensors.Keys.ToList();
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.Matches(@"^base_model\.model\.model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.lora_[AB]\.weight$", n));

        var merged = Path.Combine(_dir, "merged");
        (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "export", "--run", run, "--out", merged, "--merge-lora");
        Assert.True(code == 0, $"export --merge-lora exited {code}: {stderr}");
        Assert.DoesNotContain(SafetensorsFile.Open(Path.Combine(merged, "model.safetensors")).Tensors.Keys, n => n.Contains("lora_"));
        (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", merged, "--prompt", "How many", "--max-tokens", "24", "--temperature", "0", "--ids");
        Assert.True(code == 0, $"generate exited {code}: {stderr}");
        var fromMerged = stdout.TrimEnd('\n').Split('\n')[^1]["ids: ".Length..].Split(' ').Select(int.Parse).ToList();

        // The checkpoint with its adapters attached, in this process, decodes to the same ids.
        var settings = PipelineSettings.Load(RepoPaths.Hocon, "local", Path.Combine(run, LocalRun.ConfigSnapshotFile), []);
        var tokenizer = PolicyFactory.LoadTokenizer(settings.Policy, Path.Combine(run, LocalRun.TokenizerFolder));
        using var adapted = PolicyFactory.From(settings.Policy, tokenizer).Create(0);
        CheckpointStore.Load(LocalRun.FindResumePoint(run)!.CheckpointDir, adapted, null);
        Assert.True(Pipeline.Learning.Lora.LoraAdapters.HasAdapters(adapted));
        var inProcess = LlamaGenerator.Generate(adapted, tokenizer.EncodePrompt("How many"), 24, new SamplingOptions(0, 1, 0), tokenizer.StopTokens.ToHashSet());
        Assert.Equal(inProcess, fromMerged);
    }

    /// <summary>The demo of samples/stories: LoRA GRPO on the real pretrained model raises its reward within minutes.</summary>
    [Fact]
    [Trait("Category", "Long")]
    public void LoRA_GRPO_on_the_stories_sample_raises_the_mean_reward_of_the_last_10_steps_above_the_first_10()
    {
        var model = Import();
        var runs = Path.Combine(_dir, "runs");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromMinutes(5), "train", "--config", Path.Combine(RepoPaths.Root, "samples", "stories", "stories.conf"),
            "--set", $"policy.path={System.Text.Json.JsonSerializer.Serialize(model)}", "--set", $"run-dir={System.Text.Json.JsonSerializer.Serialize(runs)}");
        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        var rewards = MetricsRecorder.ReadAll(Path.Combine(Directory.GetDirectories(runs).Single(), MetricsRecorder.JsonlFile))
            .Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Data["reward/mean"]).ToList();
        Assert.True(rewards.Count >= 20, $"{rewards.Count} steps");
        Assert.True(rewards.TakeLast(10).Average() > rewards.Take(10).Average(),
            $"first 10 {rewards.Take(10).Average():0.000}, last 10 {rewards.TakeLast(10).Average():0.000} after {clock.Elapsed.TotalSeconds:0} s");
    }
}
