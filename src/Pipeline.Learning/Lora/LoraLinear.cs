using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Lora;

/// <summary>
/// A linear projection with HF's parameter names (<c>weight</c>, <c>bias</c>) that may carry one LoRA adapter, named as
/// PEFT names it (<c>lora_A.weight</c> [r, in], <c>lora_B.weight</c> [out, r]):
/// <c>y = x W^T + b + scaling * dropout(x) A^T B^T</c>. The HF decoder builds every attention and MLP projection as one, so
/// attaching an adapter adds tensors beside the base ones and never renames them (the base still loads from, and
/// compares to, the model folder). Without an adapter it computes exactly <c>nn.Linear</c>.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    // The adapter: registered by Attach, unregistered by Detach; never found by RegisterComponents (which ran before).
    private Linear? _loraA;
    private Linear? _loraB;
    private Dropout? _loraDropout;

    /// <param name="initialise">False leaves the weights uninitialised, for a model whose every parameter the loader overwrites.</param>
    public LoraLinear(long inFeatures, long outFeatures, bool hasBias, bool initialise = true) : base(nameof(LoraLinear))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        if (initialise)
        {
            // nn.Linear's own initialisation (same draws from the global generator), so seeded random models are unchanged.
            using var init = nn.Linear(inFeatures, outFeatures, hasBias);
            weight = new Parameter(init.weight!.detach().clone());
            if (hasBias) bias = new Parameter(init.bias!.detach().clone());
        }
        else
        {
            weight = new Parameter(empty(outFeatures, inFeatures));
            if (hasBias) bias = new Parameter(empty(outFeatures));
        }
        RegisterComponents();
    }

    public long InFeatures { get; }
    public long OutFeatures { get; }

    public Parameter Weight => weight;

    /// <summary>The adapter's rank, or 0 when none is attached.</summary>
    public int Rank { get; private set; }

    /// <summary>alpha / r (alpha / sqrt(r) with rsLoRA); 0 when no adapter is attached.</summary>
    public double Scaling { get; private set; }

    public bool HasAdapter => _loraA is not null;

    /// <summary>False runs the base alone (the KL reference); see <see cref="LoraAdapters.AdaptersDisabled"/>.</summary>
    public bool AdapterEnabled { get; set; } = true;

    public Parameter LoraA => _loraA?.weight ?? throw new InvalidOperationException("no LoRA adapter is attached");
    public Parameter LoraB => _loraB?.weight ?? throw new InvalidOperationException("no LoRA adapter is attached");

    /// <summary>
    /// Attaches an adapter as PEFT initialises it: A kaiming-uniform (a = sqrt 5, i.e. U(-1/sqrt(in), 1/sqrt(in))) drawn
    /// from <paramref name="generator"/>, B zeros, so the model's output is unchanged until B trains.
    /// </summary>
    public void Attach(int rank, double scaling, double dropout, Generator generator)
    {
        if (HasAdapter) throw new InvalidOperationException("a LoRA adapter is already attached");
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), "rank must be >= 1");
        var device = weight.device;
        var a = nn.Linear(InFeatures, rank, hasBias: false);
        var b = nn.Linear(rank, OutFeatures, hasBias: false);
        using (no_grad())
        {
            var bound = 1.0 / Math.Sqrt(InFeatures);
            using var draw = rand(new[] { (long)rank, InFeatures }, generator: generator);
            using var scaled = draw.Mul(2 * bound).Sub(bound);
            a.weight!.copy_(scaled);
            b.weight!.zero_();
        }
        a.to(device);
        b.to(device);
        register_module("lora_A", a);
        register_module("lora_B", b);
        _loraA = a;
        _loraB = b;
        if (dropout > 0)
        {
            _loraDropout = nn.Dropout(dropout);
            // A new module trains by default: follow this layer's mode, or a model in eval would drop adapter inputs.
            _loraDropout.train(training);
            register_module("lora_dropout", _loraDropout);
        }
        Rank = rank;
        Scaling = scaling;
    }

    /// <summary>Removes the adapter (its tensors are disposed); the base is left as it is.</summary>
    public void Detach()
    {
        if (!HasAdapter) return;
        register_module("lora_A", null!);
        register_module("lora_B", null!);
        if (_loraDropout is not null) register_module("lora_dropout", null!);
        _loraA!.Dispose();
        _loraB!.Dispose();
        _loraDropout?.Dispose();
        _loraA = _loraB = null;
        _loraDropout = null;
        Rank = 0;
        Scaling = 0;
    }

    /// <summary>W += scaling * B A, then <see cref="Detach"/>: the same outputs with no adapter (PEFT's merge_and_unload).</summary>
    public void Merge()
    {
        if (!HasAdapter) return;
        using (no_grad())
        using (var scope = NewDisposeScope())
            weight.AddScaled_(_loraB!.weight!.matmul(_loraA!.weight!), Scaling);
        Detach();
    }

    public override Tensor forward(Tensor x)
    {
        var y = nn.functional.linear(x, weight, bias);
        if (_loraA is null || !AdapterEnabled) return y;
        // Temporaries go now, not at the end of the caller's scope (autograd keeps what backward needs): held for a whole
        // GRPO step they cost more memory than LoRA saves (bench model --size 25m --lora: peak RSS 1.13x full's).
        using var baseOut = y;
        var dropped = _loraDropout?.forward(x);
        using var down = _loraA.forward(dropped ?? x);
        if (dropped is not null && !ReferenceEquals(dropped, x)) dropped.Dispose();
        using var up = _loraB!.forward(down);
        using var scaled = up.Mul(Scaling);
        return baseOut.Plus(scaled);
    }
}
