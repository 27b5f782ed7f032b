using Pipeline.Learning;
using Pipeline.Rewards.Similarity;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// Common part of the torch reward models (classification, ranking): a featurizer (frozen embeddings or hashed
/// character n-grams), a <see cref="ScoreHead"/>, AdamW, and the guarded optimizer step.
/// </summary>
/// <remarks>
/// <para>Safety: a step whose loss, gradient norm or updated weights are not finite never reaches the weights: gradients
/// are zeroed, the parameters are restored from a copy taken just before the step, <see cref="SkippedSteps"/> counts it
/// and <see cref="Version"/> does not move. So the weights are finite whatever the labels or the learning rate.</para>
/// <para>Threads: NOT thread-safe; one owner (one actor), one call at a time (dispose scopes are thread-static and live
/// inside each call). torch's intra-op thread count is process-wide: it is left alone unless <c>torch-threads</c> &gt; 0,
/// which calls <see cref="TorchRuntime.Configure"/>. The global torch RNG is never used (seeded private generator).</para>
/// </remarks>
public abstract class TorchRewardModel : IRewardModel, IDisposable
{
    /// <summary>Rows per forward when scoring.</summary>
    protected const int ScoreChunk = 512;

    private readonly TorchSharp.Modules.Parameter[] _parameters;
    private long _skipped;
    private bool _disposed;

    protected TorchRewardModel(RewardModelOptions options, IFeaturizer featurizer)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Validate();
        Featurizer = featurizer ?? throw new ArgumentNullException(nameof(featurizer));
        if (featurizer.Kind != options.Features)
            throw new ArgumentException($"featurizer is {RewardModelOptions.Name(featurizer.Kind)} but features = {RewardModelOptions.Name(options.Features)}");
        TorchRuntime.Configure(options.TorchThreads);
        Device = TorchRuntime.ResolveDevice(options.Device);
        Head = new ScoreHead(featurizer.Dimension, options.Hidden, options.Seed);
        if (Device.type != DeviceType.CPU) Head.to(Device);
        _parameters = Head.parameters().ToArray();
        Optimizer = new Pipeline.Learning.Optim.SafeAdamW(Head.parameters(), options.LearningRate, options.WeightDecay);
    }

    public abstract string Variant { get; }
    public RewardModelOptions Options { get; }
    public IFeaturizer Featurizer { get; }
    public Device Device { get; }

    /// <summary>Successful optimizer steps (plus the version a loaded model was saved at).</summary>
    public long Version { get; protected set; }

    /// <summary>Steps skipped because a label, the loss, the gradient norm or the updated weights were not finite.</summary>
    public long SkippedSteps => _skipped;

    public string? LastSkipReason { get; private set; }

    internal ScoreHead Head { get; }
    internal TorchSharp.Modules.AdamW Optimizer { get; }

    public abstract RewardModelScore Score(IReadOnlyList<string> texts);

    public abstract void Save(string dir);

    /// <summary>True when every parameter is finite.</summary>
    public bool WeightsFinite()
    {
        using var _ = NewDisposeScope();
        return _parameters.All(p => isfinite(p).all().item<bool>());
    }

    /// <summary>A flat copy of every parameter (tests, diagnostics).</summary>
    public float[] WeightsSnapshot()
    {
        using var _ = NewDisposeScope();
        return _parameters.SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();
    }

    /// <summary>[texts.Count, D] features on <see cref="Device"/> (in the caller's dispose scope).</summary>
    protected Tensor Features(IReadOnlyList<string> texts)
    {
        var x = tensor(Featurizer.Featurize(texts), new long[] { texts.Count, Featurizer.Dimension });
        return Device.type == DeviceType.CPU ? x : x.to(Device);
    }

    /// <summary>The head's raw output (logit or reward) per text, no grad, in chunks.</summary>
    protected double[] RawOutputs(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = new double[texts.Count];
        if (texts.Count == 0) return result;
        Head.eval();
        using var _ = no_grad();
        for (var start = 0; start < texts.Count; start += ScoreChunk)
        {
            using var scope = NewDisposeScope();
            var count = Math.Min(ScoreChunk, texts.Count - start);
            var chunk = texts is List<string> list ? list.GetRange(start, count) : texts.Skip(start).Take(count).ToList();
            var y = Head.forward(Features(chunk)).to(ScalarType.Float64).cpu().data<double>().ToArray();
            Array.Copy(y, 0, result, start, count);
        }
        return result;
    }

    /// <summary>
    /// Backward + clip + AdamW step for <paramref name="loss"/> (a scalar with grad), guarded: returns false (and counts
    /// a skip) when the loss, the gradient norm or the updated weights are not finite; the weights are then unchanged.
    /// Call inside a dispose scope. Increments <see cref="Version"/> on success.
    /// </summary>
    protected bool ApplyStep(Tensor loss, out double lossValue)
    {
        Optimizer.zero_grad();
        lossValue = loss.item<float>();
        if (!double.IsFinite(lossValue)) return Skip($"non-finite loss ({lossValue})");

        loss.backward();
        var gradNorm = nn.utils.clip_grad_norm_(_parameters, Options.MaxGradNorm > 0 ? Options.MaxGradNorm : float.MaxValue);
        if (!double.IsFinite(gradNorm)) return Skip($"non-finite gradient norm ({gradNorm})");

        Tensor[] before;
        using (no_grad()) before = _parameters.Select(p => p.detach().clone()).ToArray();
        Optimizer.step();
        if (!_parameters.All(p => isfinite(p).all().item<bool>()))
        {
            using (no_grad())
                for (var i = 0; i < _parameters.Length; i++) _parameters[i].copy_(before[i]);
            return Skip("non-finite weights after the optimizer step (restored)");
        }
        Optimizer.zero_grad();
        Version++;
        return true;
    }

    /// <summary>Counts a skipped step; always returns false.</summary>
    protected bool Skip(string reason)
    {
        Optimizer.zero_grad();
        _skipped++;
        LastSkipReason = reason;
        return false;
    }

    /// <summary>Known = false, value = default-reward, for every text.</summary>
    protected RewardModelScore Defaults(int count)
    {
        var values = new double[count];
        Array.Fill(values, Options.DefaultReward);
        return new RewardModelScore(values, new bool[count]);
    }

    // ---- persistence ----------------------------------------------------------------------------------------------

    protected void SaveCore(string dir, RewardModelMeta meta)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Directory.CreateDirectory(dir);
        using (NewDisposeScope())
        {
            RewardModelStore.WriteAtomic(Path.Combine(dir, RewardModelStore.WeightsFile), tmp => Head.save_safetensors(tmp));
            RewardModelStore.WriteAtomic(Path.Combine(dir, RewardModelStore.OptimizerFile), tmp => Optimizer.save_state_dict(tmp));
        }
        RewardModelStore.WriteMeta(dir, meta with
        {
            Variant = Variant,
            Version = Version,
            SkippedSteps = _skipped,
            Options = Options,
            Featurizer = Featurizer.Identity,
            FeatureDimension = Featurizer.Dimension,
        });
    }

    /// <summary>Loads weights, optimizer state and counters saved by <see cref="SaveCore"/> into this (freshly built) model.</summary>
    protected void LoadCore(string dir, RewardModelMeta meta)
    {
        if (!string.Equals(meta.Featurizer, Featurizer.Identity, StringComparison.Ordinal))
            throw new InvalidDataException($"'{dir}' was trained on features '{meta.Featurizer}', this model reads '{Featurizer.Identity}'");
        using (NewDisposeScope())
        {
            Head.load_safetensors(Path.Combine(dir, RewardModelStore.WeightsFile), strict: true);
            var opt = Path.Combine(dir, RewardModelStore.OptimizerFile);
            if (File.Exists(opt)) Optimizer.load_state_dict(opt);
        }
        Version = meta.Version;
        _skipped = meta.SkippedSteps;
    }

    /// <summary>The featurizer the options ask for (an encoder is needed for <c>features = embedding</c>).</summary>
    public static IFeaturizer CreateFeaturizer(RewardModelOptions options, ISentenceEncoder? encoder)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Features switch
        {
            FeatureKind.Chars => new CharFeaturizer(options.CharDim, options.CharNgramMin, options.CharNgramMax, options.CharLowercase),
            FeatureKind.Pair => new PairFeaturizer(options.CharDim, options.CharNgramMin, options.CharNgramMax, options.CharLowercase),
            FeatureKind.Embedding => new EmbeddingFeaturizer(
                encoder ?? throw new ArgumentException("features = embedding needs a sentence encoder", nameof(encoder)),
                options.EmbeddingCache),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Features, "unknown features"),
        };
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Optimizer.Dispose();
        Head.Dispose();
        GC.SuppressFinalize(this);
    }
}
