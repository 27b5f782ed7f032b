using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pipeline.Learning.Checkpoints;

/// <summary>
/// Saves and restores learner checkpoints:
/// <code>
/// runDir/checkpoints/step-000123/
///     model.safetensors      module state dict (TorchSharp.PyBridge, PyTorch-compatible names); full weights only
///     adapter_config.json    with LoRA (<see cref="AdapterCheckpoint"/>) instead of model.safetensors: the adapters in PEFT's
///     adapter_model.safetensors  layout (<see cref="Lora.PeftAdapterFolder"/>); the frozen base is recorded in meta.json
///                            (<see cref="CheckpointMeta.BaseModel"/>: path and fingerprint), never copied
///     optimizer.safetensors  per-parameter optimizer state ("state.{i}.{field}", e.g. exp_avg, exp_avg_sq, step)
///                            and per-group learning rates ("param_groups.{g}.lr", "param_groups.{g}.initial_lr")
///     rng.safetensors        torch CPU generator state ("torch.cpu")
///     meta.json              <see cref="CheckpointMeta"/>
///     manifest.json          <see cref="CheckpointManifest"/>: size and SHA-256 of every file above, written last
/// </code>
/// A checkpoint is written into a temporary sibling directory, flushed to disk (each file, then the folder) and renamed
/// into place, then the parent folder is flushed, so a directory named step-N is complete even after a power loss.
/// <see cref="FindLatest"/> verifies each candidate against its manifest and passes over broken ones, saying why.
/// Only the newest <c>keep</c> checkpoints are kept.
/// </summary>
public static class CheckpointStore
{
    /// <summary>
    /// The newest format this build reads. 2: checkpoints carry manifest.json (format 1, without, still loads unverified).
    /// 3: adapter-only checkpoints (only they are written as 3, so a build that cannot read them refuses them by number).
    /// </summary>
    public const int FormatVersion = 3;
    /// <summary>The format full-weight checkpoints are written in.</summary>
    public const int FullWeightsFormat = 2;
    /// <summary>The format adapter-only checkpoints are written in.</summary>
    public const int AdapterFormat = 3;
    public const string CheckpointsFolder = "checkpoints";
    public const string ModelFile = "model.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string RngFile = "rng.safetensors";
    public const string MetaFile = "meta.json";
    public const string ManifestFile = "manifest.json";

    private static readonly Regex StepDir = new(@"^step-(\d+)$", RegexOptions.CultureInvariant);
    private static readonly Regex SecretKey = new(
        @"secret|passw|api[_\-]?key|credential|bearer|access[_\-]?token|auth[_\-]?token|private[_\-]?key|connection[_\-]?string",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    public static string CheckpointDirName(long step) => "step-" + step.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>Writes a checkpoint and prunes old ones; returns the checkpoint directory.</summary>
    /// <param name="keep">How many newest checkpoints to keep (including this one); &lt;= 0 keeps all.</param>
    /// <param name="adapters">Given for a LoRA policy: only its adapters are written (PEFT layout), and the base is fingerprinted into meta.</param>
    public static string Save(string runDir, nn.Module model, optim.Optimizer? optimizer, CheckpointMeta meta, int keep,
        AdapterCheckpoint? adapters = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(meta);
        if (meta.Step < 0) throw new ArgumentOutOfRangeException(nameof(meta), "Step must be >= 0.");
        if (adapters is not null && !Lora.LoraAdapters.HasAdapters(model))
            throw new ArgumentException("an adapter-only checkpoint was asked for, but the model carries no LoRA adapters", nameof(adapters));
        // Fingerprinted before anything is written: a base folder that went missing fails the save, not the resume.
        var baseModel = adapters is null ? null : BaseModelFingerprint.Of(adapters.BasePath);

        var root = Path.Combine(runDir, CheckpointsFolder);
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, CheckpointDirName(meta.Step));
        var tmp = Path.Combine(root, $".tmp-{CheckpointDirName(meta.Step)}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            using (NewDisposeScope())
            {
                if (adapters is null) model.save_safetensors(Path.Combine(tmp, ModelFile));
                else Lora.PeftAdapterFolder.Save(model, adapters.Config, tmp, baseModel!.Path);
                if (optimizer is not null)
                    Safetensors.SaveStateDict(Path.Combine(tmp, OptimizerFile), OptimizerStateToTensors(optimizer, model));
                Safetensors.SaveStateDict(Path.Combine(tmp, RngFile),
                    new Dictionary<string, Tensor> { ["torch.cpu"] = random.get_rng_state() });
            }

            var clean = meta with
            {
                Extra = meta.Extra?.Where(kv => !SecretKey.IsMatch(kv.Key))
                            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal)
                        ?? new Dictionary<string, string>(),
                RngState = meta.RngState ?? [],
                Format = adapters is null ? FullWeightsFormat : AdapterFormat,
                BaseModel = baseModel,
            };
            File.WriteAllBytes(Path.Combine(tmp, MetaFile),
                JsonSerializer.SerializeToUtf8Bytes(clean, CheckpointJsonContext.Default.CheckpointMeta));

            // Every file flushed and hashed, then the manifest (last), then the folder: only then is the rename safe.
            var files = new Dictionary<string, ManifestEntry>(StringComparer.Ordinal);
            foreach (var file in Directory.GetFiles(tmp).Order(StringComparer.Ordinal))
            {
                var (size, sha) = DurableFiles.FlushAndHash(file);
                files[Path.GetFileName(file)] = new ManifestEntry(size, sha);
            }
            DurableFiles.WriteAllBytes(Path.Combine(tmp, ManifestFile), JsonSerializer.SerializeToUtf8Bytes(
                new CheckpointManifest(FormatVersion, files), CheckpointJsonContext.Default.CheckpointManifest));
            DurableFiles.FlushDirectory(tmp);

            if (Directory.Exists(final))
            {
                // Re-saving the same step: swap the old one out, the new one in, then drop the old one.
                var old = Path.Combine(root, $".old-{CheckpointDirName(meta.Step)}-{Guid.NewGuid():N}");
                Directory.Move(final, old);
                Directory.Move(tmp, final);
                DurableFiles.FlushDirectory(root);
                TryDelete(old);
            }
            else
            {
                Directory.Move(tmp, final);
                DurableFiles.FlushDirectory(root);
            }
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }

        Prune(root, keep);
        return final;
    }

    /// <summary>
    /// The newest intact checkpoint under <paramref name="runDir"/>, or null. Each broken one passed over (and each
    /// intact one that predates manifests, so cannot be verified) is reported to <paramref name="warn"/> by path and reason.
    /// </summary>
    public static (CheckpointMeta Meta, string Dir)? FindLatest(string runDir, Action<string>? warn = null)
    {
        foreach (var (_, dir) in List(Path.Combine(runDir, CheckpointsFolder)).OrderByDescending(x => x.Step))
        {
            var check = Check(dir);
            if (!check.Intact)
            {
                warn?.Invoke($"checkpoint {dir} is broken ({check.Problem}); passing over it");
                continue;
            }
            if (!check.Verified)
                warn?.Invoke($"checkpoint {dir} has no {ManifestFile} (written before checkpoints carried checksums): loading it unverified");
            return (check.Meta!, dir);
        }
        return null;
    }

    /// <summary>
    /// Verifies a checkpoint folder: every file in its manifest has the recorded size and SHA-256, and meta.json reads.
    /// A folder without a manifest is accepted (unverified) only when its meta.json says it predates manifests and every
    /// safetensors file in it is whole; otherwise it is broken.
    /// </summary>
    public static CheckpointCheck Check(string checkpointDir)
    {
        var manifestPath = Path.Combine(checkpointDir, ManifestFile);
        if (File.Exists(manifestPath))
        {
            CheckpointManifest? manifest;
            try
            {
                manifest = JsonSerializer.Deserialize(File.ReadAllBytes(manifestPath), CheckpointJsonContext.Default.CheckpointManifest);
            }
            catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
            {
                return Broken($"{ManifestFile} is unreadable: {e.Message}");
            }
            if (manifest?.Files is not { Count: > 0 } files) return Broken($"{ManifestFile} lists no files");
            var weights = files.ContainsKey(ModelFile) || !files.ContainsKey(Lora.PeftAdapterFolder.WeightsFile)
                ? new[] { ModelFile }
                : new[] { Lora.PeftAdapterFolder.WeightsFile, Lora.PeftAdapterFolder.ConfigFile };
            foreach (var required in weights.Append(MetaFile))
                if (!files.ContainsKey(required)) return Broken($"{ManifestFile} does not list {required}");
            foreach (var (name, entry) in files.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var path = Path.Combine(checkpointDir, name);
                if (Path.GetFileName(name) != name) return Broken($"{ManifestFile} lists '{name}', which is not a file name");
                if (!File.Exists(path)) return Broken($"{name} is missing");
                try
                {
                    var (size, sha) = DurableFiles.Hash(path);
                    if (size != entry.Size) return Broken($"{name} has {size} bytes, the manifest says {entry.Size}");
                    if (!string.Equals(sha, entry.Sha256, StringComparison.OrdinalIgnoreCase))
                        return Broken($"{name} does not match its SHA-256 in the manifest");
                }
                catch (IOException e)
                {
                    return Broken($"{name} is unreadable: {e.Message}");
                }
            }
            return TryReadMeta(checkpointDir, out var meta, out var problem)
                ? new CheckpointCheck(checkpointDir, meta, null, Verified: true)
                : Broken(problem);
        }

        if (!TryReadMeta(checkpointDir, out var oldMeta, out var metaProblem)) return Broken(metaProblem);
        if (oldMeta.Format >= 2) return Broken($"{ManifestFile} is missing");
        if (!File.Exists(Path.Combine(checkpointDir, ModelFile))) return Broken($"{ModelFile} is missing");
        foreach (var file in Directory.GetFiles(checkpointDir, "*.safetensors").Order(StringComparer.Ordinal))
        {
            try
            {
                SafetensorsHeader.ReadShapes(file);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                return Broken($"{Path.GetFileName(file)} is unreadable: {e.Message}");
            }
        }
        return new CheckpointCheck(checkpointDir, oldMeta, null, Verified: false);

        CheckpointCheck Broken(string why) => new(checkpointDir, null, why, Verified: false);
    }

    private static bool TryReadMeta(string checkpointDir, out CheckpointMeta meta, out string problem)
    {
        try
        {
            meta = ReadMeta(checkpointDir);
            problem = "";
            return true;
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidDataException or NotSupportedException)
        {
            meta = null!;
            problem = e is FileNotFoundException ? $"{MetaFile} is missing" : $"{MetaFile} is unreadable: {e.Message}";
            return false;
        }
    }

    /// <summary>
    /// Loads model weights (in place), optimizer state (when <paramref name="optimizer"/> is given and the checkpoint
    /// has one) and the torch CPU RNG state; returns the metadata. A file that cannot be read is reported by path.
    /// An adapter-only checkpoint loads into the adapters <paramref name="model"/> already carries (its base is the
    /// folder it was built from; <see cref="RequireSameBase"/> checks that it is the checkpoint's).
    /// </summary>
    public static CheckpointMeta Load(string checkpointDir, nn.Module model, optim.Optimizer? optimizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        var meta = ReadMeta(checkpointDir);
        using (NewDisposeScope())
        {
            var modelPath = Path.Combine(checkpointDir, ModelFile);
            if (meta.BaseModel is not null && !File.Exists(modelPath))
            {
                if (!Lora.LoraAdapters.HasAdapters(model))
                    throw new InvalidDataException($"Checkpoint '{checkpointDir}' holds only LoRA adapters (over {meta.BaseModel.Path}), but the model carries none: build the policy with pipeline.policy.lora on");
                var adapterPath = Path.Combine(checkpointDir, Lora.PeftAdapterFolder.WeightsFile);
                Guarded(adapterPath, () => Lora.PeftAdapterFolder.LoadInto(model, checkpointDir));
            }
            else
            {
                Guarded(modelPath, () => { model.load_safetensors(modelPath, strict: true); });
            }

            var optPath = Path.Combine(checkpointDir, OptimizerFile);
            if (optimizer is not null)
            {
                if (!File.Exists(optPath))
                    throw new InvalidDataException($"Checkpoint '{checkpointDir}' has no {OptimizerFile}, but an optimizer was given.");
                var dict = Guarded(optPath, () => Safetensors.LoadStateDict(optPath));
                LoadOptimizerState(optimizer, dict);
            }

            var rngPath = Path.Combine(checkpointDir, RngFile);
            if (File.Exists(rngPath))
            {
                var rng = Guarded(rngPath, () => Safetensors.LoadStateDict(rngPath));
                if (rng.TryGetValue("torch.cpu", out var state)) random.set_rng_state(state);
            }
        }
        return meta;
    }

    /// <summary>
    /// Refuses an adapter-only checkpoint whose recorded base differs from <paramref name="baseFolder"/> (the folder the
    /// adapters would be loaded over), naming the meta.json field that differs; nothing for a full-weight checkpoint.
    /// </summary>
    /// <exception cref="Core.Configuration.ConfigException">The base changed, or the checkpoint needs one and none is given.</exception>
    public static void RequireSameBase(string checkpointDir, string? baseFolder)
    {
        var recorded = ReadMeta(checkpointDir).BaseModel;
        if (recorded is null) return;
        if (string.IsNullOrEmpty(baseFolder))
            throw new Core.Configuration.ConfigException($"checkpoint {checkpointDir} holds only LoRA adapters over {recorded.Path} (meta.json baseModel); this configuration has no LoRA base (pipeline.policy.lora.enabled = on, pipeline.policy.path)");
        var difference = recorded.DifferenceFrom(BaseModelFingerprint.Of(baseFolder));
        if (difference is not null)
            throw new Core.Configuration.ConfigException($"checkpoint {checkpointDir} holds LoRA adapters trained over a different base: {MetaFile} {difference}; " +
                                                         "adapters only fit the exact base they were trained on (restore that base, or start a new run)");
    }

    // The readers throw JsonException/ArgumentException naming only a tensor key; the caller needs the file.
    private static T Guarded<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is JsonException or IOException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path} is unreadable: {e.Message}", e);
        }
    }

    private static void Guarded(string path, Action read) => Guarded(path, () => { read(); return 0; });

    public static CheckpointMeta ReadMeta(string checkpointDir)
    {
        var path = Path.Combine(checkpointDir, MetaFile);
        var meta = JsonSerializer.Deserialize(File.ReadAllBytes(path), CheckpointJsonContext.Default.CheckpointMeta)
                   ?? throw new InvalidDataException($"Empty {MetaFile} in '{checkpointDir}'.");
        if (meta.Format > FormatVersion)
            throw new InvalidDataException($"Checkpoint '{checkpointDir}' has format {meta.Format}; this build reads up to {FormatVersion}.");
        if (meta.Stage is null) throw new InvalidDataException($"{MetaFile} in '{checkpointDir}' has no stage.");
        return meta with { Extra = meta.Extra ?? new(), RngState = meta.RngState ?? [] };
    }

    private static IEnumerable<(long Step, string Dir)> List(string root)
    {
        if (!Directory.Exists(root)) yield break;
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            var m = StepDir.Match(Path.GetFileName(dir));
            if (m.Success && long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var step))
                yield return (step, dir);
        }
    }

    private static void Prune(string root, int keep)
    {
        // Leftovers of crashed saves.
        foreach (var dir in Directory.EnumerateDirectories(root, ".tmp-*").Concat(Directory.EnumerateDirectories(root, ".old-*")))
        {
            if (Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddHours(-1)) TryDelete(dir);
        }
        if (keep <= 0) return;
        foreach (var (_, dir) in List(root).OrderByDescending(x => x.Step).Skip(keep))
            TryDelete(dir);
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    // ---- optimizer state <-> flat tensor dictionary -------------------------------------------------------------
    // TorchSharp's optimizer state_dict() returns the LIVE per-parameter state objects (e.g. AdamW.State with
    // step, exp_avg, exp_avg_sq, max_exp_avg_sq) in parameter order, and the live per-group options. Public fields
    // of type Tensor / long / int / double are stored generically, so Adam, AdamW, SGD(momentum) ... all work.

    private static Dictionary<string, Tensor> OptimizerStateToTensors(optim.Optimizer optimizer, nn.Module model)
    {
        var sd = StateDict(optimizer);
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        // An optimizer over fp32 master copies (Optim.MasterWeights, bf16 policies) keeps the exact values only there.
        var modelHandles = model.parameters().Select(p => p.Handle).ToHashSet();
        var optimized = optimizer.parameters().ToList();
        for (int i = 0; i < optimized.Count; i++)
            if (!modelHandles.Contains(optimized[i].Handle))
                dict[$"master.{i}"] = optimized[i].detach().cpu().contiguous();
        for (int i = 0; i < sd.State.Count; i++)
        {
            foreach (var f in StateFields(sd.State[i]))
            {
                var key = $"state.{i}.{f.Name}";
                switch (f.GetValue(sd.State[i]))
                {
                    case Tensor t when !t.IsInvalid:
                        dict[key] = t.detach().cpu().contiguous(); break;
                    case long l: dict[key] = torch.tensor(new[] { l }); break;
                    case int n: dict[key] = torch.tensor(new[] { (long)n }); break;
                    case double d: dict[key] = torch.tensor(new[] { d }); break;
                }
            }
        }
        for (int g = 0; g < sd.Options.Count; g++)
        {
            var o = sd.Options[g];
            if (o.LearningRate is double lr) dict[$"param_groups.{g}.lr"] = torch.tensor(new[] { lr });
            dict[$"param_groups.{g}.initial_lr"] = torch.tensor(new[] { o.InitialLearningRate });
        }
        dict["meta.state_count"] = torch.tensor(new[] { (long)sd.State.Count });
        return dict;
    }

    private static void LoadOptimizerState(optim.Optimizer optimizer, Dictionary<string, Tensor> dict)
    {
        var sd = StateDict(optimizer);
        if (dict.TryGetValue("meta.state_count", out var countT) && countT.item<long>() != sd.State.Count)
            throw new InvalidDataException(
                $"Optimizer checkpoint has state for {countT.item<long>()} parameters; the optimizer has {sd.State.Count}.");

        using var _ = no_grad();
        var optimized = optimizer.parameters().ToList();
        for (int i = 0; i < optimized.Count; i++)
        {
            if (!dict.TryGetValue($"master.{i}", out var master)) continue;
            if (!optimized[i].shape.SequenceEqual(master.shape))
                throw new InvalidDataException($"Optimizer master weight 'master.{i}' has shape [{string.Join(", ", master.shape)}], expected [{string.Join(", ", optimized[i].shape)}].");
            optimized[i].copy_(master);
        }
        for (int i = 0; i < sd.State.Count; i++)
        {
            var state = sd.State[i];
            foreach (var f in StateFields(state))
            {
                var key = $"state.{i}.{f.Name}";
                if (!dict.TryGetValue(key, out var src))
                {
                    // Saved as absent (e.g. max_exp_avg_sq without amsgrad): keep absent.
                    if (f.FieldType == typeof(Tensor) && f.GetValue(state) is Tensor stale && dict.Count > 0
                        && dict.Keys.Any(k => k.StartsWith($"state.{i}.", StringComparison.Ordinal)))
                    {
                        f.SetValue(state, null);
                        stale.Dispose();
                    }
                    continue;
                }
                if (f.FieldType == typeof(Tensor))
                {
                    if (f.GetValue(state) is Tensor live && !live.IsInvalid)
                    {
                        if (!live.shape.SequenceEqual(src.shape))
                            throw new InvalidDataException(
                                $"Optimizer state '{key}' has shape [{string.Join(", ", src.shape)}], expected [{string.Join(", ", live.shape)}].");
                        live.copy_(src);
                    }
                    else
                    {
                        f.SetValue(state, src.clone().DetachFromDisposeScope());
                    }
                }
                else if (f.FieldType == typeof(long)) f.SetValue(state, src.item<long>());
                else if (f.FieldType == typeof(int)) f.SetValue(state, (int)src.item<long>());
                else if (f.FieldType == typeof(double)) f.SetValue(state, src.item<double>());
            }
        }
        for (int g = 0; g < sd.Options.Count; g++)
        {
            if (dict.TryGetValue($"param_groups.{g}.lr", out var lr)) sd.Options[g].LearningRate = lr.item<double>();
            if (dict.TryGetValue($"param_groups.{g}.initial_lr", out var ilr)) sd.Options[g].InitialLearningRate = ilr.item<double>();
        }
    }

    private static optim.Optimizer.StateDictionary StateDict(optim.Optimizer optimizer) =>
        optimizer is OptimizerHelper helper
            ? helper.state_dict()
            : throw new NotSupportedException($"Optimizer type {optimizer.GetType().Name} does not expose a state dict.");

    private static IEnumerable<FieldInfo> StateFields(OptimizerState state) =>
        state.GetType().GetFields(BindingFlags.Public | BindingFlags.Instance)
            .Where(f => f.FieldType == typeof(Tensor) || f.FieldType == typeof(long) || f.FieldType == typeof(int) || f.FieldType == typeof(double))
            .OrderBy(f => f.Name, StringComparer.Ordinal);
}
