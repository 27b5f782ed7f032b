using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>SwiGLU: <c>down_proj(silu(gate_proj(x)) * up_proj(x))</c>, as HF's LlamaMLP.</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    public LlamaMlp(LlamaConfig config, bool initialise = true) : base(nameof(LlamaMlp))
    {
        gate_proj = UninitialisedLayers.Linear(config.HiddenSize, config.IntermediateSize, config.MlpBias, initialise);
        up_proj = UninitialisedLayers.Linear(config.HiddenSize, config.IntermediateSize, config.MlpBias, initialise);
        down_proj = UninitialisedLayers.Linear(config.IntermediateSize, config.HiddenSize, config.MlpBias, initialise);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
}
