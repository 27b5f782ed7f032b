using Pipeline.Learning.Lora;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>SwiGLU: <c>down_proj(silu(gate_proj(x)) * up_proj(x))</c>, as HF's LlamaMLP.</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear gate_proj;
    private readonly LoraLinear up_proj;
    private readonly LoraLinear down_proj;

    public LlamaMlp(LlamaConfig config, bool initialise = true) : base(nameof(LlamaMlp))
    {
        gate_proj = new LoraLinear(config.HiddenSize, config.IntermediateSize, config.MlpBias, initialise);
        up_proj = new LoraLinear(config.HiddenSize, config.IntermediateSize, config.MlpBias, initialise);
        down_proj = new LoraLinear(config.IntermediateSize, config.HiddenSize, config.MlpBias, initialise);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
}
