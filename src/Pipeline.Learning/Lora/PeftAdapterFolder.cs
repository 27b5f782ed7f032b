using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;
using static TorchSharp.torch;

namespace Pipeline.Learning.Lora;

/// <summary>
/// LoRA adapters in PEFT's folder layout, which <c>PeftModel.from_pretrained(base, folder)</c> reads:
/// <c>adapter_config.json</c> (peft_type LORA, r, lora_alpha, lora_dropout, target_modules, ...) and
/// <c>adapter_model.safetensors</c> holding only the adapter tensors, named
/// <c>base_model.model.&lt;module path&gt;.lora_A.weight</c> [r, in] and <c>.lora_B.weight</c> [out, r] (no adapter name).
/// Loading checks every field and every tensor first and names the file and field (or tensor) of a problem.
/// </summary>
public static class PeftAdapterFolder
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string KeyPrefix = "base_model.model.";

    /// <summary>
    /// Writes the adapters of <paramref name="model"/> into <paramref name="folder"/> (created if needed; the two files
    /// are replaced whole). <paramref name="config"/> must be the one they were attached with.
    /// </summary>
    public static void Save(nn.Module model, LoraAdapterConfig config, string folder, string baseModelNameOrPath)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        var adapted = LoraAdapters.Projections(model).Where(p => p.Layer.HasAdapter).ToList();
        if (adapted.Count == 0) throw new InvalidOperationException("the model carries no LoRA adapters to save");
        foreach (var (path, layer) in adapted)
            if (layer.Rank != config.Rank || Math.Abs(layer.Scaling - config.Scaling) > 1e-12 * Math.Max(1, Math.Abs(config.Scaling)))
                throw new ArgumentException($"{path} has an adapter of rank {layer.Rank}, scaling {layer.Scaling}; the config says rank {config.Rank}, scaling {config.Scaling}", nameof(config));

        Directory.CreateDirectory(folder);
        var tensors = LoraAdapters.AdapterTensors(model);
        var layout = tensors.Select(t => (KeyPrefix + t.Name, t.Tensor.shape)).ToList();
        var weights = Path.Combine(folder, WeightsFile);
        var tmpWeights = weights + ".tmp";
        SafetensorsWriter.Write(tmpWeights, layout, k =>
        {
            using var scope = NewDisposeScope();
            return tensors[k].Tensor.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        });

        // PEFT saves the expanded module names (all-linear included); a regular expression is kept as written.
        JsonNode targets = config.TargetIsPattern && config.TargetModules[0] != LoraAdapterConfig.AllLinear
            ? JsonValue.Create(config.TargetModules[0])
            : new JsonArray(adapted.Select(p => p.Path[(p.Path.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal)
                .Select(n => (JsonNode)JsonValue.Create(n)).ToArray());
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["r"] = config.Rank,
            ["lora_alpha"] = config.Alpha,
            ["lora_dropout"] = config.Dropout,
            ["target_modules"] = targets,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["use_rslora"] = config.UseRslora,
            ["use_dora"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["modules_to_save"] = null,
            ["layers_to_transform"] = null,
            ["layers_pattern"] = null,
            ["rank_pattern"] = new JsonObject(),
            ["alpha_pattern"] = new JsonObject(),
        };
        var configPath = Path.Combine(folder, ConfigFile);
        File.WriteAllText(configPath + ".tmp", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmpWeights, weights, overwrite: true);
        File.Move(configPath + ".tmp", configPath, overwrite: true);
    }

    /// <summary>Reads and checks <c>adapter_config.json</c>.</summary>
    /// <exception cref="ConfigException">The file and field that are wrong, or a PEFT feature this loader does not compute.</exception>
    public static LoraAdapterConfig ReadConfig(string folder)
    {
        var path = Path.Combine(folder, ConfigFile);
        if (!File.Exists(path)) throw new ConfigException($"adapter folder {folder} has no {ConfigFile}");
        using var doc = JsonFields.Parse(path);
        var root = JsonFields.Root(doc, path);
        var peftType = root.OptString("peft_type") ?? throw root.Error("peft_type", "is missing (a PEFT adapter says \"LORA\")");
        if (peftType != "LORA") throw root.Error("peft_type", $"is '{peftType}'; only LORA adapters are read");
        var rank = root.PositiveInt("r");
        var alpha = root.OptDouble("lora_alpha") ?? 8; // PEFT's LoraConfig default
        var dropout = root.OptDouble("lora_dropout") ?? 0;
        if (dropout < 0 || dropout >= 1) throw root.Error("lora_dropout", $"must be in [0, 1), got {dropout}");
        var bias = root.OptString("bias") ?? "none";
        if (bias != "none") throw root.Error("bias", $"is '{bias}'; only \"none\" is supported (biases are not trained)");
        if (root.OptBool("fan_in_fan_out") == true) throw root.Error("fan_in_fan_out", "is true (Conv1D weights, as GPT-2's); Llama/Qwen projections are Linear");
        if (root.OptBool("use_dora") == true) throw root.Error("use_dora", "is true; DoRA is not supported");
        if (root.OptBool("lora_bias") == true) throw root.Error("lora_bias", "is true; lora_B with a bias is not supported");
        foreach (var field in new[] { "rank_pattern", "alpha_pattern" })
            if (root.OptObject(field) is { } o && o.Element.EnumerateObject().Any())
                throw root.Error(field, "is not empty; per-module ranks and alphas are not supported");
        if (root.Get("modules_to_save") is { ValueKind: JsonValueKind.Array } m && m.GetArrayLength() > 0)
            throw root.Error("modules_to_save", "is not empty; only LoRA tensors are loaded");
        if (root.Has("layers_to_transform")) throw root.Error("layers_to_transform", "is set; adapters on a subset of layers are not supported");
        var useRslora = root.OptBool("use_rslora") ?? false;

        var targetsEl = root.Get("target_modules") ?? throw root.Error("target_modules", "is missing");
        switch (targetsEl.ValueKind)
        {
            case JsonValueKind.String:
                return new LoraAdapterConfig(rank, alpha, dropout, [targetsEl.GetString()!], useRslora) { TargetIsPattern = true };
            case JsonValueKind.Array:
                var list = new List<string>();
                foreach (var item in targetsEl.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String) throw root.Error("target_modules", $"must hold module names, got {item.GetRawText()}");
                    list.Add(item.GetString()!);
                }
                if (list.Count == 0) throw root.Error("target_modules", "is empty");
                return new LoraAdapterConfig(rank, alpha, dropout, list, useRslora);
            default:
                throw root.Error("target_modules", $"must be a list of module names or one pattern, got {targetsEl.GetRawText()}");
        }
    }

    /// <summary>
    /// Attaches the adapters of <paramref name="folder"/> to <paramref name="model"/> (which must carry none) with their
    /// stored values. Everything is checked before the model changes: on a <see cref="ConfigException"/> it is untouched.
    /// </summary>
    public static LoraAdapterConfig Load(nn.Module model, string folder)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (LoraAdapters.HasAdapters(model)) throw new InvalidOperationException("the model already carries LoRA adapters");
        var config = ReadConfig(folder);
        var configPath = Path.Combine(folder, ConfigFile);
        var targets = LoraAdapters.Targets(model, config, $"{configPath}: field 'target_modules'");
        var weightsPath = Path.Combine(folder, WeightsFile);
        if (!File.Exists(weightsPath)) throw new ConfigException($"adapter folder {folder} has no {WeightsFile} (only safetensors adapters are read)");
        var file = SafetensorsFile.Open(weightsPath);

        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (path, layer) in targets)
        {
            expected[$"{KeyPrefix}{path}.lora_A.weight"] = [config.Rank, layer.InFeatures];
            expected[$"{KeyPrefix}{path}.lora_B.weight"] = [layer.OutFeatures, config.Rank];
        }
        RequireFit(file, weightsPath, expected,
            $"{weightsPath} does not fit {ConfigFile} (r = {config.Rank}, target_modules = {string.Join(", ", config.TargetModules)}) on this model:",
            $"r = {config.Rank} needs");
        CopyAdapters(file, expected.Keys, targets,
            () => LoraAdapters.Attach(model, config, seed: 0, source: $"{configPath}: field 'target_modules'"));
        return config;
    }

    /// <summary>
    /// Copies the adapters of <paramref name="folder"/> into the adapters <paramref name="model"/> already carries (a
    /// checkpoint of the same run): the folder's rank, scaling, module set and shapes must be the model's. Everything is
    /// checked and read before any value changes.
    /// </summary>
    public static void LoadInto(nn.Module model, string folder)
    {
        ArgumentNullException.ThrowIfNull(model);
        var adapted = LoraAdapters.Projections(model).Where(p => p.Layer.HasAdapter).ToList();
        if (adapted.Count == 0) throw new InvalidOperationException("the model carries no LoRA adapters to load into");
        var config = ReadConfig(folder);
        var configPath = Path.Combine(folder, ConfigFile);
        foreach (var (path, layer) in adapted)
        {
            if (layer.Rank != config.Rank) throw new ConfigException($"{configPath}: field 'r' is {config.Rank}, but {path} carries an adapter of rank {layer.Rank}");
            if (Math.Abs(layer.Scaling - config.Scaling) > 1e-12 * Math.Max(1, Math.Abs(config.Scaling)))
                throw new ConfigException($"{configPath}: field 'lora_alpha' gives scaling {config.Scaling}, but {path} carries an adapter with scaling {layer.Scaling}");
        }
        var weightsPath = Path.Combine(folder, WeightsFile);
        if (!File.Exists(weightsPath)) throw new ConfigException($"adapter folder {folder} has no {WeightsFile}");
        var file = SafetensorsFile.Open(weightsPath);
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (path, layer) in adapted)
        {
            expected[$"{KeyPrefix}{path}.lora_A.weight"] = layer.LoraA.shape;
            expected[$"{KeyPrefix}{path}.lora_B.weight"] = layer.LoraB.shape;
        }
        RequireFit(file, weightsPath, expected, $"{weightsPath} does not fit the adapters this model carries:", "the model has");
        CopyAdapters(file, expected.Keys, adapted, attach: null);
    }

    private static string Listed(List<string> names) =>
        string.Join(", ", names.Take(20)) + (names.Count > 20 ? $", ... ({names.Count - 20} more)" : "");

    /// <summary>Throws one <see cref="ConfigException"/> listing every missing, unexpected or misshapen adapter tensor.</summary>
    private static void RequireFit(SafetensorsFile file, string weightsPath, Dictionary<string, long[]> expected, string header, string shapeNeeds)
    {
        var missing = expected.Keys.Where(k => !file.Tensors.ContainsKey(k)).ToList();
        var unexpected = file.Tensors.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var wrongShape = expected
            .Where(kv => file.Tensors.TryGetValue(kv.Key, out var e) && !e.Shape.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key}: stored [{string.Join(", ", file.Tensors[kv.Key].Shape)}], {shapeNeeds} [{string.Join(", ", kv.Value)}]")
            .ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count == 0) return;
        var lines = new List<string> { header };
        if (missing.Count > 0) lines.Add($"  missing ({missing.Count}): {Listed(missing)}");
        if (unexpected.Count > 0) lines.Add($"  unexpected ({unexpected.Count}): {Listed(unexpected)}");
        if (wrongShape.Count > 0) lines.Add($"  wrong shape ({wrongShape.Count}): {Listed(wrongShape)}");
        throw new ConfigException(string.Join('\n', lines));
    }

    /// <summary>
    /// Reads every adapter tensor first (so a read error leaves the model as it was), then runs <paramref name="attach"/>
    /// (if any) and copies the values into the layers' A and B.
    /// </summary>
    private static void CopyAdapters(SafetensorsFile file, IEnumerable<string> names, IReadOnlyList<(string Path, LoraLinear Layer)> layers, Action? attach)
    {
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in names) values[name] = file.ReadFloat32(name);
            attach?.Invoke();
            using var noGrad = no_grad();
            foreach (var (path, layer) in layers)
            {
                layer.LoraA.copy_(values[$"{KeyPrefix}{path}.lora_A.weight"]);
                layer.LoraB.copy_(values[$"{KeyPrefix}{path}.lora_B.weight"]);
            }
        }
        finally
        {
            foreach (var t in values.Values) t.Dispose();
        }
    }
}
