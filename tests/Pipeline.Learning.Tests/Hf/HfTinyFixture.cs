using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Learning.Hf;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// The tiny HF folders of tests/fixtures/hf-tiny (Llama, Qwen2, Qwen3), written by record.py with an independent
/// PyTorch forward, and the logits and greedy ids recorded there (oracle.json).
/// </summary>
internal static class HfTinyFixture
{
    public static readonly string[] Names = ["llama-llama3-rope", "qwen2", "qwen2-tied", "qwen3-bf16", "qwen3-bias-tied"];

    public static string Folder(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
        var root = dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
        return Path.Combine(root, "tests", "fixtures", "hf-tiny", name);
    }

    public sealed record Oracle(long[][] Sequences, float[][] Logits, int[] GreedyPrompt, int[] GreedyIds);

    public static Oracle ReadOracle(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder(name), "oracle.json")));
        var root = doc.RootElement;
        return new Oracle(
            root.GetProperty("sequences").EnumerateArray().Select(s => s.EnumerateArray().Select(i => i.GetInt64()).ToArray()).ToArray(),
            root.GetProperty("logits").EnumerateArray().Select(s => s.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray(),
            root.GetProperty("greedy_prompt").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
            root.GetProperty("greedy_ids").EnumerateArray().Select(i => i.GetInt32()).ToArray());
    }

    public static float[] LogitsOf(LlamaForCausalLM model, long[] sequence)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return model.forward(tensor(sequence, new long[] { 1, sequence.Length })).data<float>().ToArray();
    }

    public static double MaxAbsDiff(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ: {a.Length} vs {b.Length}");
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }

    /// <summary>A temporary copy of a fixture folder; <paramref name="edit"/> changes config.json's fields.</summary>
    public sealed class Copy : IDisposable
    {
        public Copy(string name, Action<JsonObject>? edit = null)
        {
            Path = Directory.CreateTempSubdirectory($"hf-tiny-{name}-").FullName;
            foreach (var file in Directory.GetFiles(Folder(name))) File.Copy(file, System.IO.Path.Combine(Path, System.IO.Path.GetFileName(file)));
            if (edit is null) return;
            var config = JsonNode.Parse(File.ReadAllText(File_("config.json")))!.AsObject();
            edit(config);
            File.WriteAllText(File_("config.json"), config.ToJsonString());
        }

        public string Path { get; }

        public string File_(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose() => Directory.Delete(Path, true);
    }
}
