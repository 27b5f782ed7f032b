namespace Pipeline.Cli.Tests;

/// <summary>The real binary on the real llama2.c checkpoint in ../shared/fixtures/stories260K: import, then generate.</summary>
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
}
