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

    /// <summary>
    /// Copies version <paramref name="source"/> into the module's own tensors in place, a tensor at a time: from a source in this
    /// process with <c>copy_</c> (no managed bytes at all), otherwise through one buffer of <paramref name="chunkBytes"/>.
    /// Names, shapes and dtypes are checked against the module before anything is written, and the source's lease is
    /// held throughout, so the module ends on the whole version or, on a mismatch or a superseded source, untouched.
    /// </summary>
    /// <returns>False when the source was superseded before it could be opened (the module is untouched; take the newest).</returns>
    /// <exception cref="InvalidOperationException">Names, shapes or dtypes differ; the message names the tensor.</exception>
    public static bool Apply(nn.Module module, IWeightSource source, TimeSpan timeout, int chunkBytes = DefaultChunkBytes)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 16);
        var targets = Targets(module, source);
        using var reader = source.TryOpen(timeout);
        if (reader is null) return false;
        using var _ = no_grad();
        byte[]? buffer = null;
        for (var i = 0; i < targets.Length; i++)
        {
            var dst = targets[i];
            if (reader.Local(i) is { } local)
            {
                dst.copy_(local);
                continue;
            }
            var bytes = source.Layouts[i].ByteLength;
            buffer ??= new byte[(int)Math.Min(chunkBytes, Math.Max(16, source.TotalBytes()))];
            var step = buffer.Length - buffer.Length % TensorLayout.ElementSize(dst.dtype);
            for (long offset = 0; offset < bytes; offset += step)
            {
                var span = buffer.AsSpan(0, (int)Math.Min(step, bytes - offset));
                reader.Read(i, offset, span);
                TensorBytes.Write(dst, offset, span);
            }
        }
        return true;
    }

    /// <summary>256 KiB: what one weight-sync chunk carries and what a receiver holds while applying a version.</summary>
    public const int DefaultChunkBytes = 256 * 1024;

    /// <summary>The module's tensor for each of the source's layouts, in the source's order; throws naming the first mismatch.</summary>
    private static Tensor[] Targets(nn.Module module, IWeightSource source)
    {
        var target = Exported(module).ToDictionary(e => e.Name, e => e.Tensor, StringComparer.Ordinal);
        var v = source.Version;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new Tensor[source.Layouts.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var l = source.Layouts[i];
            if (!seen.Add(l.Name))
                throw new InvalidOperationException($"Weight version v{v} contains tensor '{l.Name}' twice.");
            if (!target.TryGetValue(l.Name, out var t))
                throw new InvalidOperationException($"Weight version v{v} has tensor '{l.Name}' that the module does not have.");
            if (!t.shape.SequenceEqual(l.Shape))
                throw new InvalidOperationException(
                    $"Weight version v{v}: tensor '{l.Name}' has shape [{string.Join(", ", l.Shape)}], module expects [{string.Join(", ", t.shape)}].");
            if (t.dtype != l.DType)
                throw new InvalidOperationException($"Weight version v{v}: tensor '{l.Name}' is {l.DType}, module holds {t.dtype}.");
            result[i] = t;
        }
        var missing = target.Keys.FirstOrDefault(k => !seen.Contains(k));
        if (missing is not null)
            throw new InvalidOperationException($"Weight version v{v} has no tensor '{missing}' that the module expects.");
        return result;
    }

    /// <summary>What a version of <paramref name="module"/> carries: its LoRA adapters if it has any, else its whole state dict.</summary>
    internal static IEnumerable<(string Name, Tensor Tensor)> Exported(nn.Module module)
    {
        var adapters = Lora.LoraAdapters.AdapterTensors(module);
        return adapters.Count > 0
            ? adapters.Select(a => (a.Name, (Tensor)a.Tensor))
            : module.state_dict().Select(kv => (kv.Key, kv.Value));
    }
}
