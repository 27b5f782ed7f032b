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

    public override Tensor forward(Tensor x)
    {
        var variance = (x * x).mean(new long[] { -1 }, keepdim: true);
        return weight * (x * variance.Add(_eps).rsqrt());
    }
}
