using Pipeline.Core.Configuration;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Lora;

/// <summary>
/// LoRA on a whole model: attach adapters to the <see cref="LoraLinear"/> projections a config targets (freezing every
/// other parameter), switch them off for a forward (the KL reference is the same module with adapters disabled, so no
/// second copy of the weights), merge them into the base, and list their tensors under PEFT's names.
/// </summary>
public static class LoraAdapters
{
    /// <summary>Every projection that can carry an adapter, by module path (lm_head is a plain Linear and never listed).</summary>
    public static IReadOnlyList<(string Path, LoraLinear Layer)> Projections(nn.Module model)
        => model.named_modules().Where(m => m.module is LoraLinear).Select(m => (m.name, (LoraLinear)m.module)).ToList();

    /// <summary>The projections <paramref name="config"/> targets; a list entry that matches none is a <see cref="ConfigException"/>.</summary>
    /// <param name="source">Where the config came from (a key or a file), for the error.</param>
    public static IReadOnlyList<(string Path, LoraLinear Layer)> Targets(nn.Module model, LoraAdapterConfig config, string source)
    {
        var all = Projections(model);
        var names = all.Select(p => p.Path[(p.Path.LastIndexOf('.') + 1)..]).Distinct().ToList();
        if (!config.TargetIsPattern)
        {
            var unmatched = config.TargetModules.Where(t => !all.Any(p => p.Path == t || p.Path.EndsWith("." + t, StringComparison.Ordinal))).ToList();
            if (unmatched.Count > 0)
                throw new ConfigException($"{source}: target module(s) {string.Join(", ", unmatched)} match no projection of the model (it has {string.Join(", ", names)}, or all-linear)");
        }
        var chosen = all.Where(p => config.Targets(p.Path)).ToList();
        if (chosen.Count == 0)
            throw new ConfigException($"{source}: '{config.TargetModules[0]}' matches no projection of the model (it has {string.Join(", ", names)}, or all-linear)");
        return chosen;
    }

    /// <summary>
    /// Attaches adapters (A drawn from <paramref name="seed"/>, B zeros) and freezes every other parameter, as PEFT's
    /// get_peft_model with bias = none. Returns the adapted module paths.
    /// </summary>
    public static IReadOnlyList<string> Attach(nn.Module model, LoraAdapterConfig config, long seed, string source = "pipeline.policy.lora.target-modules")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        if (HasAdapters(model)) throw new InvalidOperationException("the model already carries LoRA adapters");
        var targets = Targets(model, config, source);
        foreach (var p in model.parameters()) p.requires_grad_(false);
        using var generator = new Generator(unchecked((ulong)seed));
        foreach (var (_, layer) in targets) layer.Attach(config.Rank, config.Scaling, config.Dropout, generator);
        return targets.Select(t => t.Path).ToList();
    }

    public static bool HasAdapters(nn.Module model) => Projections(model).Any(p => p.Layer.HasAdapter);

    /// <summary>The adapter tensors, by the model's own names (<c>model.layers.0.self_attn.q_proj.lora_A.weight</c>, ...).</summary>
    public static IReadOnlyList<(string Name, Parameter Tensor)> AdapterTensors(nn.Module model)
    {
        var list = new List<(string, Parameter)>();
        foreach (var (path, layer) in Projections(model))
        {
            if (!layer.HasAdapter) continue;
            list.Add(($"{path}.lora_A.weight", layer.LoraA));
            list.Add(($"{path}.lora_B.weight", layer.LoraB));
        }
        return list;
    }

    /// <summary>
    /// Runs the base alone until disposed: <c>using (LoraAdapters.AdaptersDisabled(policy)) ...</c>. Not thread-safe
    /// (it flips a flag on the module the caller's thread computes with).
    /// </summary>
    public static IDisposable AdaptersDisabled(nn.Module model)
    {
        var layers = Projections(model).Where(p => p.Layer.HasAdapter).Select(p => (p.Layer, p.Layer.AdapterEnabled)).ToList();
        foreach (var (layer, _) in layers) layer.AdapterEnabled = false;
        return new Restore(layers);
    }

    /// <summary>Merges every adapter into its base weight (W += scaling * B A) and removes the adapters, as PEFT's merge_and_unload.</summary>
    public static void MergeAndUnload(nn.Module model)
    {
        foreach (var (_, layer) in Projections(model)) layer.Merge();
    }

    private sealed class Restore(List<(LoraLinear Layer, bool Enabled)> layers) : IDisposable
    {
        public void Dispose()
        {
            foreach (var (layer, enabled) in layers) layer.AdapterEnabled = enabled;
        }
    }
}
