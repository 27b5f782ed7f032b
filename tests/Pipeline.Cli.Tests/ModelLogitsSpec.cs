using System.Text.Json;

namespace Pipeline.Cli.Tests;

/// <summary>The hidden <c>pipeline model logits</c> that the GPU kit (deploy/gpu-check) compares with transformers, held here against the hf-tiny oracle.</summary>
public sealed class ModelLogitsSpec : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-logits-").FullName;

    private static string Fixture => Path.Combine(RepoPaths.Root, "tests", "fixtures", "hf-tiny", "qwen2");

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Logits_and_greedy_ids_of_the_qwen2_fixture_match_its_recorded_oracle()
    {
        using var oracle = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "oracle.json")));
        var sequence = oracle.RootElement.GetProperty("sequences")[0].EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = oracle.RootElement.GetProperty("logits")[0].EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var output = Path.Combine(_dir, "logits.json");

        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "logits", "--model", Fixture,
            "--prompt-ids", string.Join(' ', sequence), "--out", output);

        Assert.True(code == 0, $"model logits exited {code}: {stderr}");
        using var written = JsonDocument.Parse(File.ReadAllText(output));
        var actual = written.RootElement.GetProperty("logits").EnumerateArray().SelectMany(row => row.EnumerateArray()).Select(e => e.GetDouble()).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        var maxDiff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff <= 1e-4, $"max abs diff {maxDiff}");

        var prompt = oracle.RootElement.GetProperty("greedy_prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var greedy = oracle.RootElement.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "logits", "--model", Fixture,
            "--prompt-ids", string.Join(',', prompt), "--greedy", greedy.Length.ToString(), "--out", output);
        Assert.True(code == 0, $"model logits --greedy exited {code}: {stderr}");
        using var decoded = JsonDocument.Parse(File.ReadAllText(output));
        Assert.Equal(greedy, decoded.RootElement.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    [Fact]
    public void A_prompt_id_outside_the_vocabulary_exits_with_code_2_naming_the_id_and_writes_nothing()
    {
        var output = Path.Combine(_dir, "logits.json");
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "logits", "--model", Fixture, "--prompt-ids", "1 96", "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("id 96 is outside the model's vocab_size 96", stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void A_prompt_id_that_is_not_a_number_exits_with_code_2_naming_it()
    {
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "logits", "--model", Fixture, "--prompt-ids", "1 two", "--out", Path.Combine(_dir, "x.json"));
        Assert.Equal(2, code);
        Assert.Contains("'two' is not a non-negative integer token id", stderr);
    }
}
