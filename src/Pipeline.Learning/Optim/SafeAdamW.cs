using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Optim;

/// <summary>
/// TorchSharp's <see cref="AdamW"/> with the same update, state and checkpoint format, whose step keeps every number it
/// hands libtorch alive for the whole native call (<see cref="ScalarOps"/>). TorchSharp 0.107's own step passes numbers as
/// implicit Scalars (<c>mul_(beta1)</c>, <c>add_(grad, 1 - beta1)</c>, <c>addcdiv_(..., -step_size)</c>) that a
/// garbage collection may free mid-call: at best an "Unknown scalar type" exception, at worst a parameter update with a
/// wrong constant. Only the step is replaced; the optimizer is still an <see cref="AdamW"/>, so
/// <see cref="Checkpoints.CheckpointStore"/> saves and restores its state as before.
/// </summary>
public sealed class SafeAdamW : AdamW
{
    public SafeAdamW(IEnumerable<Parameter> parameters, double lr, double weightDecay, bool amsgrad = false)
        : base(parameters, lr: lr, weight_decay: weightDecay, amsgrad: amsgrad)
    {
    }

    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = group.Options;
        var beta1 = options.beta1!.Value;
        var beta2 = options.beta2!.Value;
        var weightDecay = options.weight_decay!.Value;
        var amsgrad = options.amsgrad!.Value;
        var maximize = options.maximize!.Value;
        var eps = options.eps!.Value;
        var lr = options.LearningRate!.Value;
        foreach (var parameter in group.Parameters)
        {
            var grad = parameter.grad;
            if (grad is null) continue;
            var state = (State)_state[parameter.Handle];
            if (maximize) grad = grad.neg();
            state.step++;
            parameter.Mul_(1.0 - lr * weightDecay);
            var biasCorrection1 = 1.0 - Math.Pow(beta1, state.step);
            var biasCorrection2 = 1.0 - Math.Pow(beta2, state.step);
            state.exp_avg.Mul_(beta1).AddScaled_(grad, 1.0 - beta1);
            state.exp_avg_sq.Mul_(beta2).AddcmulScaled_(grad, grad, 1.0 - beta2);
            Tensor second = state.exp_avg_sq;
            if (amsgrad)
            {
                var previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                second = state.max_exp_avg_sq;
            }
            var denominator = second.sqrt().Div_(Math.Sqrt(biasCorrection2)).Add_(eps);
            parameter.AddcdivScaled_(state.exp_avg, denominator, -(lr / biasCorrection1));
        }
    }, closure);
}
