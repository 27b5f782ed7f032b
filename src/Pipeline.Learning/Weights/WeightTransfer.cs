using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Weights;

/// <summary>
/// Copies a module's state dict (parameters and buffers, in state-dict order) to and from a <see cref="WeightSnapshot"/>.
/// A module with LoRA adapters exports only its adapter tensors: every holder of the policy loaded the same frozen base
/// from the model folder, so a version moves only what training changes.
/// </summary>
/// <remarks>
/// Data travels as float32; non-float buffers (e.g. int64 counters) are converted and converted back on import,
/// which is exact for integers up to 2^24.
/// </remarks>
public static class WeightTransfer
{
    public static WeightSnapshot Export(nn.Module module, long version)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var list = new List<NamedTensor>();
        foreach (var (name, tensor) in Exported(module))
        {
            // The state-dict tensors are the module's own: never dispose them. Temporaries below are scoped.
            var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
            list.Add(new NamedTensor(name, tensor.shape.ToArray(), cpu.data<float>().ToArray()));
        }
        return new WeightSnapshot(version, list);
    }

    /// <summary>
    /// Copies <paramref name="snapshot"/> into the module's existing tensors in place.
    /// Validates everything first, so a mismatch leaves the module untouched.
    /// </summary>
    /// <exception cref="InvalidOperationException">Names or shapes differ; the message names the tensor.</exception>
    public static void Import(nn.Module module, WeightSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(snapshot);
        using var scope = NewDisposeScope();
        using var _ = no_grad();

        var target = module.state_dict();
        if (Lora.LoraAdapters.HasAdapters(module))
        {
            // An adapters-only snapshot (see Export) updates the adapters; the frozen base stays as loaded.
            var adapters = Lora.LoraAdapters.AdapterTensors(module).Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
            if (snapshot.Tensors.All(t => adapters.Contains(t.Name)))
                target = target.Where(kv => adapters.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        }
        var byName = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var t in snapshot.Tensors)
            if (!byName.TryAdd(t.Name, t))
                throw new InvalidOperationException($"Weight snapshot v{snapshot.Version} contains tensor '{t.Name}' twice.");

        foreach (var (name, tensor) in target)
        {
            if (!byName.TryGetValue(name, out var src))
                throw new InvalidOperationException($"Weight snapshot v{snapshot.Version} has no tensor '{name}' that the module expects.");
            var shape = tensor.shape;
            if (!shape.SequenceEqual(src.Shape))
                throw new InvalidOperationException(
                    $"Weight snapshot v{snapshot.Version}: tensor '{name}' has shape [{string.Join(", ", src.Shape)}], module expects [{string.Join(", ", shape)}].");
            if (src.Data.LongLength != src.ElementCount)
                throw new InvalidOperationException(
                    $"Weight snapshot v{snapshot.Version}: tensor '{name}' has {src.Data.LongLength} values for shape [{string.Join(", ", src.Shape)}].");
        }
        var extra = byName.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (extra.Count > 0)
            throw new InvalidOperationException(
                $"Weight snapshot v{snapshot.Version} has tensor '{extra[0]}' that the module does not have" +
                (extra.Count > 1 ? $" (and {extra.Count - 1} more)." : "."));

        foreach (var (name, dst) in target)
        {
            var src = byName[name];
            var source = torch.tensor(src.Data, src.Shape, ScalarType.Float32);
            dst.copy_(source); // copy_ converts dtype/device; no re-allocation of the parameter
        }
    }

    private static IEnumerable<(string Name, Tensor Tensor)> Exported(nn.Module module)
    {
        var adapters = Lora.LoraAdapters.AdapterTensors(module);
        return adapters.Count > 0
            ? adapters.Select(a => (a.Name, (Tensor)a.Tensor))
            : module.state_dict().Select(kv => (kv.Key, kv.Value));
    }
}
