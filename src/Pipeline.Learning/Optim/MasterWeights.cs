using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Optim;

/// <summary>
/// Mixed precision for the optimizer: when the trained weights are not float32 (a bf16 policy), AdamW updates float32
/// master copies of them instead, and each step copies the masters back into the model's bf16 weights. The optimizer's
/// state (exp_avg, exp_avg_sq) is then float32 too, because it is made like its parameters. With float32 weights the
/// masters are the weights themselves and every method here does nothing, so fp32 training is exactly what it was.
/// </summary>
/// <remarks>
/// Why masters and not fp32 state over bf16 parameters: TorchSharp's AdamW makes its state like each parameter (bf16),
/// and a bf16 weight cannot take an update smaller than its own rounding step (2^-8 relative), so small learning rates
/// would leave it unchanged; float32 masters accumulate those updates. Checkpoints keep the masters exactly
/// (<see cref="Checkpoints.CheckpointStore"/> writes them as <c>master.{i}</c> in optimizer.safetensors).
/// </remarks>
public sealed class MasterWeights : IDisposable
{
    private readonly IReadOnlyList<Parameter> _model;

    /// <param name="trainable">The model's parameters that train (with requires_grad), all of one dtype.</param>
    public MasterWeights(IReadOnlyList<Parameter> trainable)
    {
        ArgumentNullException.ThrowIfNull(trainable);
        _model = trainable;
        Active = trainable.Any(p => p.dtype != ScalarType.Float32);
        if (!Active)
        {
            Optimized = trainable;
            return;
        }
        using var noGrad = no_grad();
        Optimized = trainable.Select(p => new Parameter(p.detach().to(ScalarType.Float32).clone(), requires_grad: true)).ToList();
    }

    /// <summary>True when the weights are not float32 and the optimizer works on float32 copies.</summary>
    public bool Active { get; }

    /// <summary>What the optimizer updates and the gradient clip measures: the float32 masters, or the weights themselves.</summary>
    public IReadOnlyList<Parameter> Optimized { get; }

    /// <summary>Zeroes the model's own gradients (the optimizer's zero_grad reaches only the masters).</summary>
    public void ZeroModelGrads()
    {
        if (!Active) return;
        foreach (var p in _model)
        {
            using var grad = p.grad;
            grad?.zero_();
        }
    }

    /// <summary>After backward: each master's gradient becomes its weight's gradient, in float32.</summary>
    public void GradientsToMasters()
    {
        if (!Active) return;
        for (var i = 0; i < _model.Count; i++)
        {
            using var scope = NewDisposeScope();
            var grad = _model[i].grad;
            var master = Optimized[i];
            var wide = grad is null ? zeros_like(master) : grad.to(ScalarType.Float32);
            var current = master.grad;
            if (current is not null)
            {
                using var noGrad = no_grad();
                current.copy_(wide);
                continue;
            }
            // TorchSharp has no gradient setter: d/dm sum(m * g) = g gives the master its first gradient.
            master.mul(wide.detach()).sum().backward();
        }
    }

    /// <summary>After the optimizer step: the weights take the masters' values (rounded to their dtype).</summary>
    public void MastersToModel()
    {
        if (!Active) return;
        using var noGrad = no_grad();
        for (var i = 0; i < _model.Count; i++) _model[i].copy_(Optimized[i]);
    }

    public void Dispose()
    {
        if (!Active) return;
        foreach (var m in Optimized) m.Dispose();
    }
}
