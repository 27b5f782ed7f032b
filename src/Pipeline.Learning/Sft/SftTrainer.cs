using Pipeline.Learning.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Sft;

/// <summary>
/// Supervised fine-tuning (warm start before RL): token-mean cross-entropy on completion tokens only, prompt and
/// padding masked out; AdamW with decoupled weight decay on every trainable parameter (only the LoRA adapters when attached), global grad-norm clipping.
/// A non-finite loss or gradient norm skips the optimizer step (returned loss is then NaN/inf).
/// </summary>
public sealed class SftTrainer : IDisposable
{
    private readonly PolicyNetwork _policy;
    private readonly double _maxGradNorm;
    // What the optimizer updates and the clip measures: every weight, or only the LoRA adapters.
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _trainable;
    // float32 copies that AdamW updates when the weights are bf16 (the weights themselves when float32).
    private readonly Optim.MasterWeights _masters;

    public SftTrainer(PolicyNetwork policy, double learningRate, double weightDecay = 0.01, double maxGradNorm = 1.0)
    {
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _maxGradNorm = maxGradNorm;
        _trainable = policy.TrainableParameters();
        if (_trainable.Count == 0) throw new ArgumentException("the policy has no parameter with requires_grad to train", nameof(policy));
        _masters = new Optim.MasterWeights(_trainable);
        Optimizer = new Optim.SafeAdamW(_masters.Optimized, learningRate, weightDecay);
    }

    /// <summary>The float32 masters the optimizer updates (the trained weights themselves when those are float32).</summary>
    public IReadOnlyList<TorchSharp.Modules.Parameter> OptimizedParameters => _masters.Optimized;

    public optim.Optimizer Optimizer { get; }

    /// <summary>One optimizer step on <paramref name="batch"/>; returns the token-mean completion cross-entropy before the step.</summary>
    public double Step(IReadOnlyList<SftExample> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("empty batch", nameof(batch));
        using var scope = NewDisposeScope();
        _policy.train();
        var loss = Loss(batch);
        var value = loss.item<float>();
        Optimizer.zero_grad();
        _masters.ZeroModelGrads();
        if (!float.IsFinite(value)) return value;
        loss.backward();
        _masters.GradientsToMasters();
        var gradNorm = nn.utils.clip_grad_norm_(_masters.Optimized, _maxGradNorm);
        if (double.IsFinite(gradNorm))
        {
            Optimizer.step();
            _masters.MastersToModel();
        }
        Optimizer.zero_grad();
        _masters.ZeroModelGrads();
        return value;
    }

    /// <summary>Token-weighted mean completion cross-entropy over <paramref name="examples"/>, no gradient.</summary>
    public double Evaluate(IReadOnlyList<SftExample> examples, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        double total = 0;
        long tokens = 0;
        var wasTraining = _policy.training;
        _policy.eval();
        try
        {
            for (var start = 0; start < examples.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var chunk = examples.Skip(start).Take(batchSize).ToArray();
                var count = chunk.Sum(e => e.CompletionTokens.Length);
                if (count == 0) continue;
                total += Loss(chunk).item<float>() * (double)count;
                tokens += count;
            }
        }
        finally
        {
            _policy.train(wasTraining);
        }
        return tokens == 0 ? double.NaN : total / tokens;
    }

    private Tensor Loss(IReadOnlyList<SftExample> batch)
    {
        var data = CompletionBatch.Build(batch.Count, i => batch[i].PromptTokens, i => batch[i].CompletionTokens, null,
            _policy);
        // LM head on completion positions only: prompt and padding are never scored.
        var logits = _policy.Head(data.PerToken(_policy.Hidden(data.Inputs)));
        // Cross-entropy (a log-softmax) in float32 whatever the model computes in.
        if (logits.dtype != ScalarType.Float32) logits = logits.to_type(ScalarType.Float32);
        return nn.functional.cross_entropy(logits, data.PerToken(data.Targets));
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        _masters.Dispose();
    }
}
