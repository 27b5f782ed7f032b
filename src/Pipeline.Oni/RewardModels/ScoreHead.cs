using Pipeline.Learning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// The torch head shared by the classification and ranking models: [B, D] features -> [B] scalar (a logit, or a
/// Bradley-Terry reward). <c>hidden &gt; 0</c>: Linear(D, hidden) -> ReLU -> Linear(hidden, 1); <c>hidden = 0</c>: Linear(D, 1).
/// State-dict names: <c>fc1.weight</c>, <c>fc1.bias</c> (MLP only), <c>out.weight</c>, <c>out.bias</c>.
/// Initialised like torch.nn.Linear (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases) from a private generator
/// seeded with <c>seed</c>: the global torch RNG is neither read nor changed.
/// </summary>
public sealed class ScoreHead : nn.Module<Tensor, Tensor>
{
    private readonly Linear? fc1;
    private readonly Linear @out;

    public ScoreHead(int inputs, int hidden, long seed) : base(nameof(ScoreHead))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(hidden);
        Inputs = inputs;
        Hidden = hidden;
        if (hidden > 0) fc1 = nn.Linear(inputs, hidden);
        @out = nn.Linear(hidden > 0 ? hidden : inputs, 1);
        RegisterComponents();
        Initialise(seed);
    }

    public int Inputs { get; }
    public int Hidden { get; }

    public override Tensor forward(Tensor x)
    {
        var h = fc1 is null ? x : nn.functional.relu(fc1.forward(x));
        return @out.forward(h).squeeze(-1);
    }

    private void Initialise(long seed)
    {
        using var generator = new Generator(unchecked((ulong)seed));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var layer in new[] { fc1, @out })
        {
            if (layer is null) continue;
            var bound = 1.0 / Math.Sqrt(layer.in_features);
            layer.weight!.copy_(rand(layer.weight.shape, generator: generator).Mul(2.0).Sub(1.0).Mul(bound));
            layer.bias!.copy_(rand(layer.bias.shape, generator: generator).Mul(2.0).Sub(1.0).Mul(bound));
        }
    }
}
