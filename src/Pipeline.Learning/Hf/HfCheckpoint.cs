using System.Text.Json;
using Pipeline.Core.Configuration;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or the shards a
/// <c>model.safetensors.index.json</c> names. Loading compares the stored names and shapes with the module's state dict
/// first and lists every missing, unexpected or wrongly shaped tensor in one error; then reads tensor by tensor straight
/// into the parameters, so no tensor is ever held twice in full.
/// </summary>
public sealed class HfCheckpoint
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    private HfCheckpoint(Dictionary<string, SafetensorsFile> byTensor) => ByTensor = byTensor;

    /// <summary>Which file holds each tensor.</summary>
    public IReadOnlyDictionary<string, SafetensorsFile> ByTensor { get; }

    public static HfCheckpoint Open(string folder)
    {
        var single = Path.Combine(folder, SingleFile);
        var index = Path.Combine(folder, IndexFile);
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        if (File.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            foreach (var name in file.Tensors.Keys) byTensor[name] = file;
            return new HfCheckpoint(byTensor);
        }
        if (!File.Exists(index))
            throw new ConfigException($"model folder {folder} has neither {SingleFile} nor {IndexFile} (only safetensors weights are read)");

        using var doc = JsonFields.Parse(index);
        var root = JsonFields.Root(doc, index);
        if (root.Get("weight_map") is not { ValueKind: JsonValueKind.Object } map) throw root.Error("weight_map", "is missing or not an object");
        var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (var entry in map.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String) throw root.Error($"weight_map.{entry.Name}", "must be a file name");
            var shardName = entry.Value.GetString()!;
            if (shardName.Contains('/') || shardName.Contains('\\')) throw root.Error($"weight_map.{entry.Name}", $"names '{shardName}' outside the folder");
            if (!shards.TryGetValue(shardName, out var shard))
            {
                var shardPath = Path.Combine(folder, shardName);
                if (!File.Exists(shardPath)) throw new ConfigException($"{index}: shard {shardName} (for '{entry.Name}') is missing from {folder}");
                shards[shardName] = shard = SafetensorsFile.Open(shardPath);
            }
            if (!shard.Tensors.ContainsKey(entry.Name)) throw new ConfigException($"{index}: '{entry.Name}' is mapped to {shardName}, which does not hold it");
            byTensor[entry.Name] = shard;
        }
        return new HfCheckpoint(byTensor);
    }

    /// <summary>
    /// Copies every tensor into <paramref name="module"/>'s parameters of the same name. Names in
    /// <paramref name="ignored"/> may be stored without being loaded (e.g. a tied <c>lm_head.weight</c>).
    /// </summary>
    public void LoadInto(nn.Module module, Func<string, bool> ignored)
    {
        var expected = module.state_dict();
        var missing = expected.Keys.Where(k => !ByTensor.ContainsKey(k)).ToList();
        var unexpected = ByTensor.Keys.Where(k => !expected.ContainsKey(k) && !ignored(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrongShape = expected
            .Where(kv => ByTensor.TryGetValue(kv.Key, out var file) && !file.Tensors[kv.Key].Shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key}: stored [{string.Join(", ", ByTensor[kv.Key].Tensors[kv.Key].Shape)}], the model needs [{string.Join(", ", kv.Value.shape)}] ({Path.GetFileName(ByTensor[kv.Key].Path)})")
            .ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
        {
            var lines = new List<string> { $"the weights in {Path.GetDirectoryName(ByTensor.Values.FirstOrDefault()?.Path) ?? "the folder"} do not fit the model from config.json:" };
            if (missing.Count > 0) lines.Add($"  missing ({missing.Count}): {Listed(missing)}");
            if (unexpected.Count > 0) lines.Add($"  unexpected ({unexpected.Count}): {Listed(unexpected)}");
            if (wrongShape.Count > 0) lines.Add($"  wrong shape ({wrongShape.Count}): {Listed(wrongShape)}");
            throw new ConfigException(string.Join('\n', lines));
        }

        using var noGrad = no_grad();
        foreach (var (name, target) in expected)
        {
            using var scope = NewDisposeScope();
            ByTensor[name].ReadInto(name, target);
        }
    }

    // A model with hundreds of layers would print thousands of names: the first 20 say enough.
    private static string Listed(List<string> names) =>
        string.Join(", ", names.Take(20)) + (names.Count > 20 ? $", ... ({names.Count - 20} more)" : "");
}
