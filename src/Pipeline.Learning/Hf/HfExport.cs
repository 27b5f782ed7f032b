using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Model;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// Writes a trained policy as a Hugging Face model folder: <c>config.json</c> (the source folder's, with the dtype set to
/// float32), <c>model.safetensors</c> streamed tensor by tensor from the policy's state dict (names are already HF's), and
/// the run's tokenizer files (tokenizer.json, tokenizer_config.json with its chat template, generation_config.json).
/// The folder appears whole or not at all: it is written beside the target and renamed.
/// </summary>
public static class HfExport
{
    /// <summary>The full path of <paramref name="outFolder"/>, which must not exist or be empty (an export never overwrites).</summary>
    public static string RequireNewFolder(string outFolder)
    {
        var target = Path.GetFullPath(outFolder);
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new ConfigException($"--out {target} exists and is not empty; export writes a new folder (remove it or choose another)");
        return target;
    }

    public static void Write(PolicyNetwork model, string configJson, string tokenizerDir, string outFolder)
    {
        var target = RequireNewFolder(outFolder);
        if (!File.Exists(configJson)) throw new ConfigException($"{configJson} is missing: the exported folder needs the model's config.json");
        if (!File.Exists(Path.Combine(tokenizerDir, HfTokenizer.FileName)))
            throw new ConfigException($"{Path.Combine(tokenizerDir, HfTokenizer.FileName)} is missing: the run has no Hugging Face tokenizer to export");

        var parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(target)}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            var config = JsonNode.Parse(File.ReadAllText(configJson)) as JsonObject
                         ?? throw new ConfigException($"{configJson} is not a JSON object");
            // The weights are written in float32: say so in both spellings transformers reads (4.x torch_dtype, 5.x dtype).
            config["torch_dtype"] = "float32";
            if (config.ContainsKey("dtype")) config["dtype"] = "float32";
            File.WriteAllText(Path.Combine(tmp, LlamaConfig.FileName), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

            var state = model.state_dict().ToList();
            var layout = state.Select(kv => (kv.Key, kv.Value.shape)).ToList();
            SafetensorsWriter.Write(Path.Combine(tmp, HfCheckpoint.SingleFile), layout, k =>
            {
                using var scope = NewDisposeScope();
                return state[k].Value.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
            });

            foreach (var name in HfPolicyTokenizer.Files)
            {
                var from = Path.Combine(tokenizerDir, name);
                if (File.Exists(from)) File.Copy(from, Path.Combine(tmp, name));
            }
            if (Directory.Exists(target)) Directory.Delete(target);
            Directory.Move(tmp, target);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
    }
}
