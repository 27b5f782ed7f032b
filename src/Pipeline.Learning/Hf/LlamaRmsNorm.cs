using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>RMSNorm as HF's LlamaRMSNorm: <c>weight * x / sqrt(mean(x^2) + eps)</c>, no bias, no mean subtraction.</summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    public LlamaRmsNorm(long size, double eps) : base(nameof(LlamaRmsNorm))
    {
        weight = nn.Parameter(ones(new[] { size }));
        _eps = eps;
        RegisterComponents();
    }

    /// <summary>In float32 whatever the activations' dtype, then back to it, as HF's LlamaRMSNorm.</summary>
    public override Tensor forward(Tensor x)
    {
        var h = x.dtype == ScalarType.Float32 ? x : x.to_type(ScalarType.Float32);
        var variance = (h * h).mean(new long[] { -1 }, keepdim: true);
        var normed = h * variance.Add(_eps).rsqrt();
        return weight * (x.dtype == ScalarType.Float32 ? normed : normed.to_type(x.dtype));
    }
}
