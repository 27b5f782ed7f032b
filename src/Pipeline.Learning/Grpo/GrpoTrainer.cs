using Pipeline.Learning.Lora;
using Pipeline.Learning.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Grpo;

/// <summary>
/// GRPO learner: decoupled PPO with truncated importance sampling (see <see cref="GrpoLoss"/>), AdamW and global
/// grad-norm clipping. Advantages arrive per sample (computed in Pipeline.Core); this class only optimises.
/// </summary>
/// <remarks>
/// <para>Per <see cref="Step"/>: sequences [prompt ++ completion] are right-padded with token 0; only completion tokens
/// are scored. pi_prox (the policy before this update) is evaluated once under no_grad before the epochs; with one
/// epoch and one minibatch it is the detached log-prob of the training forward itself (identical weights, one forward
/// saved). The reference forward runs only when a reference model is given and KlCoef != 0. The LM head and
/// log-softmax run on completion positions only, so all per-token tensors are flat [Tokens] vectors.</para>
/// <para>Safety: a batch with a non-finite behaviour log-prob or advantage, a non-finite loss, or a non-finite gradient
/// norm never reaches the weights: gradients are zeroed, the optimizer step is skipped and <see cref="SkippedSteps"/>
/// counts it (per skipped optimizer step).</para>
/// <para>Not thread-safe; call from one thread (dispose scopes are thread-static).</para>
/// </remarks>
public sealed class GrpoTrainer : IDisposable
{
    private readonly PolicyNetwork _policy;
    private readonly PolicyNetwork? _reference;
    private readonly GrpoSettings _s;
    // True when the reference is the policy's own base (its LoRA adapters disabled for the reference forward).
    private readonly bool _referenceIsBase;
    private readonly IReadOnlyList<Parameter> _trainable;
    // float32 copies that AdamW updates when the weights are bf16 (the weights themselves when float32).
    private readonly Optim.MasterWeights _masters;
    private long _skipped;

    /// <param name="policy">Trained in place: its parameters with requires_grad (only the LoRA adapters when it carries them).</param>
    /// <param name="reference">Frozen KL anchor (its parameters get requires_grad = false); null disables the KL term. A policy
    /// with LoRA adapters may be its own reference: the reference is then the base with adapters disabled (no second copy).</param>
    /// <param name="settings">Hyperparameters.</param>
    public GrpoTrainer(PolicyNetwork policy, PolicyNetwork? reference, GrpoSettings settings)
    {
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _s = settings ?? throw new ArgumentNullException(nameof(settings));
        if (!(settings.Temperature > 0)) throw new ArgumentOutOfRangeException(nameof(settings), "Temperature must be > 0 (the sampler's greedy mode reports T = 1 log-probs)");
        if (settings.MiniBatches < 1 || settings.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(settings), "MiniBatches and Epochs must be >= 1");
        if (!(settings.IsCap > 0)) throw new ArgumentOutOfRangeException(nameof(settings), "IsCap must be > 0");
        if (settings.ClipLow < 0 || settings.ClipLow >= 1 || settings.ClipHigh < 0) throw new ArgumentOutOfRangeException(nameof(settings), "need 0 <= ClipLow < 1 and ClipHigh >= 0");
        if (reference is not null && ReferenceEquals(reference, policy))
        {
            if (!LoraAdapters.HasAdapters(policy))
                throw new ArgumentException("reference must be a separate (frozen) copy of the policy, or the policy itself when it carries LoRA adapters (the base is then the reference)");
            _referenceIsBase = true;
        }
        else if (reference is not null)
        {
            if (reference.VocabSize != policy.VocabSize) throw new ArgumentException("reference and policy vocabularies differ");
            foreach (var p in reference.parameters()) p.requires_grad_(false);
            reference.eval();
            _reference = reference;
        }
        _trainable = policy.TrainableParameters();
        if (_trainable.Count == 0) throw new ArgumentException("the policy has no parameter with requires_grad to train", nameof(policy));
        _masters = new Optim.MasterWeights(_trainable);
        Optimizer = new Optim.SafeAdamW(_masters.Optimized, settings.LearningRate, settings.WeightDecay);
    }

    /// <summary>The float32 masters the optimizer updates (the trained weights themselves when those are float32).</summary>
    public IReadOnlyList<Parameter> OptimizedParameters => _masters.Optimized;

    public optim.Optimizer Optimizer { get; }

    /// <summary>The learning rate of the next optimizer steps (a schedule sets it before each <see cref="Step"/>).</summary>
    public double LearningRate
    {
        get => Optimizer.ParamGroups.First().LearningRate;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "must be finite and >= 0");
            foreach (var group in Optimizer.ParamGroups) group.LearningRate = value;
        }
    }

    /// <summary>Optimizer steps skipped because something was not finite.</summary>
    public long SkippedSteps => Interlocked.Read(ref _skipped);

    private bool KlActive => (_reference is not null || _referenceIsBase) && _s.KlCoef != 0;

    /// <summary>One learner update on <paramref name="batch"/>: Epochs x MiniBatches optimizer steps.</summary>
    public GrpoStepStats Step(IReadOnlyList<TrainSample> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope(); // also owns the grad wrappers zero_grad creates
        var tokens = batch.Sum(b => b.CompletionTokens.Length);
        if (tokens == 0) return Empty(0, "no completion tokens");
        var bad = FirstNonFinite(batch);
        if (bad is not null)
        {
            ZeroGrad();
            Interlocked.Increment(ref _skipped);
            return Empty(tokens, bad);
        }

        _policy.train();
        var n = batch.Count;
        var data = CompletionBatch.Build(n, i => batch[i].PromptTokens, i => batch[i].CompletionTokens,
            i => batch[i].BehaviourLogProbs, _policy);
        // Everything below is per completion token, flattened row-major to [Tokens]; minibatches are contiguous ranges.
        var behaviour = data.PerToken(data.Values!);
        var advantages = tensor(PerTokenAdvantages(batch, tokens), device: _policy.Device);
        var allValid = ones(tokens, dtype: ScalarType.Bool, device: _policy.Device);

        Tensor? refLogp = null;
        if (KlActive)
        {
            using var noGrad = no_grad();
            using var baseOnly = _referenceIsBase ? LoraAdapters.AdaptersDisabled(_policy) : null;
            refLogp = TokenLogProbs.OfCompletions(_reference ?? _policy, data, _s.Temperature, out _);
        }

        var fused = _s.Epochs == 1 && _s.MiniBatches == 1;
        Tensor? prox = null;
        Tensor[]? isStats = null;
        if (!fused)
        {
            using var noGrad = no_grad();
            prox = TokenLogProbs.OfCompletions(_policy, data, _s.Temperature, out _);
            isStats = ImportanceStats(prox, behaviour);
        }

        var miniBatches = Math.Min(_s.MiniBatches, n);
        var rowsPer = (n + miniBatches - 1) / miniBatches;
        var stepStats = new List<Tensor>();
        var gradNorms = new List<double>();
        string? skipReason = null;

        for (var epoch = 0; epoch < _s.Epochs; epoch++)
        {
            var tokenOffset = 0;
            for (var start = 0; start < n; start += rowsPer)
            {
                var count = Math.Min(rowsPer, n - start);
                var mbTokens = 0;
                for (var i = start; i < start + count; i++) mbTokens += batch[i].CompletionTokens.Length;
                var offset = tokenOffset;
                tokenOffset += mbTokens;
                if (mbTokens == 0) continue;
                using var mbScope = NewDisposeScope();
                var rows = data.Rows(start, count, offset, mbTokens);

                var logp = TokenLogProbs.OfCompletions(_policy, rows, _s.Temperature, out var logSoftmax);
                var behaviourMb = behaviour.narrow(0, offset, mbTokens);
                var proxMb = fused ? logp.detach() : prox!.narrow(0, offset, mbTokens);
                if (fused) isStats = ImportanceStats(proxMb, behaviourMb).Select(t => t.MoveToOuterDisposeScope()).ToArray();

                var terms = GrpoLoss.Compute(logp, proxMb, behaviourMb, refLogp?.narrow(0, offset, mbTokens),
                    advantages.narrow(0, offset, mbTokens), allValid.narrow(0, 0, mbTokens), _s);
                var entropy = TokenLogProbs.MeanEntropy(logSoftmax);
                // The bonus needs the entropy with its gradient; the logged one stays detached.
                var loss0 = _s.EntropyCoef == 0 ? terms.Loss : terms.Loss - TokenLogProbs.MeanEntropyWithGrad(logSoftmax).Mul(_s.EntropyCoef);

                ZeroGrad();
                var loss = loss0.item<float>();
                if (!float.IsFinite(loss))
                {
                    skipReason ??= $"non-finite loss ({loss}) at epoch {epoch}, rows {start}..{start + count - 1}";
                    Interlocked.Increment(ref _skipped);
                    continue;
                }
                loss0.backward();
                _masters.GradientsToMasters();
                var gradNorm = nn.utils.clip_grad_norm_(_masters.Optimized, _s.MaxGradNorm);
                if (!double.IsFinite(gradNorm))
                {
                    ZeroGrad();
                    skipReason ??= $"non-finite grad norm ({gradNorm}) at epoch {epoch}, rows {start}..{start + count - 1}";
                    Interlocked.Increment(ref _skipped);
                    continue;
                }
                Optimizer.step();
                _masters.MastersToModel();
                gradNorms.Add(gradNorm);
                stepStats.Add(stack(new[] { loss0.detach(), terms.PgLoss, terms.Kl, terms.ClipFrac, entropy }).MoveToOuterDisposeScope());
            }
        }
        ZeroGrad();

        var isHost = isStats is null ? new[] { double.NaN, double.NaN, double.NaN }
            : stack(isStats).cpu().data<float>().ToArray().Select(v => (double)v).ToArray();
        if (stepStats.Count == 0)
            return new GrpoStepStats(double.NaN, double.NaN, double.NaN, double.NaN, isHost[0], isHost[1], isHost[2],
                double.NaN, double.NaN, tokens, true, skipReason);
        var means = stack(stepStats).mean(new long[] { 0 }).cpu().data<float>().ToArray();
        return new GrpoStepStats(means[0], means[1], means[2], means[3], isHost[0], isHost[1], isHost[2],
            gradNorms.Average(), means[4], tokens, skipReason is not null, skipReason);
    }

    /// <summary>[mean, max] of pi_prox/pi_behaviour before the cap, and the k3 KL(pi_behaviour || pi_prox), over [Tokens] vectors.</summary>
    private static Tensor[] ImportanceStats(Tensor prox, Tensor behaviour)
    {
        using var _ = no_grad();
        var ratio = (prox - behaviour).exp();
        return new[] { ratio.mean(), ratio.max(), GrpoLoss.K3(behaviour, prox).mean() };
    }

    /// <summary>
    /// One advantage per completion token, in <see cref="CompletionBatch.PerToken"/> order (row by row, token by token):
    /// the sample's advantage plus its dense per-token bonus where it has one.
    /// </summary>
    private static float[] PerTokenAdvantages(IReadOnlyList<TrainSample> batch, int tokens)
    {
        var flat = new float[tokens];
        var at = 0;
        foreach (var b in batch)
        {
            for (var j = 0; j < b.CompletionTokens.Length; j++)
                flat[at + j] = (float)b.Advantage + (b.TokenBonus is { } bonus ? bonus[j] : 0f);
            at += b.CompletionTokens.Length;
        }
        return flat;
    }

    private static string? FirstNonFinite(IReadOnlyList<TrainSample> batch)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var b = batch[i];
            if (!double.IsFinite(b.Advantage)) return $"non-finite advantage ({b.Advantage}) in sample {i}";
            if (b.TokenBonus is { } bonus)
            {
                if (bonus.Length != b.CompletionTokens.Length) return $"token bonus of sample {i} has {bonus.Length} entries for {b.CompletionTokens.Length} tokens";
                foreach (var x in bonus)
                    if (!float.IsFinite(x)) return $"non-finite token bonus ({x}) in sample {i}";
            }
            foreach (var lp in b.BehaviourLogProbs)
                if (!float.IsFinite(lp)) return $"non-finite behaviour log-prob ({lp}) in sample {i}";
        }
        return null;
    }

    private static GrpoStepStats Empty(int tokens, string reason) =>
        new(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN,
            tokens, true, reason);

    private void ZeroGrad()
    {
        Optimizer.zero_grad();
        _masters.ZeroModelGrads();
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        _masters.Dispose();
    }
}
