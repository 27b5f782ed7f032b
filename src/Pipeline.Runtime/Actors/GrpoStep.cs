using System.Diagnostics;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Grpo;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Learning.Grpo;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>Where training stands: optimizer steps taken, the policy version last published, the newest prompt cursor trained on.</summary>
public sealed record TrainingPosition(long Step, long Version, long DataCursor);

/// <summary>
/// GRPO, one step read top to bottom (as CleanRL's ppo.py): filter the served groups, group-normalised advantages over
/// valid rewards, the trainer's step (decoupled PPO loss, truncated importance sampling against the behaviour log-probs,
/// k3 KL to the frozen warm-start policy), the step's metrics row. The <see cref="Learner"/> actor only asks for
/// batches, publishes what this returns and schedules checkpoints and evaluations.
/// </summary>
public sealed class GrpoStep : IDisposable
{
    /// <summary>What one step came to: where training now stands, its metrics row, and why the run must stop (null: go on).</summary>
    public sealed record Outcome(TrainingPosition Position, Dictionary<string, double> Metrics, string? Failure);

    private readonly PipelineSettings _s;
    private readonly IPolicyTokenizer _tokenizer;
    private readonly IReadOnlyList<IReportsMetrics> _sourceMetrics;
    private readonly ILoggingAdapter _log;
    private readonly GrpoTrainer _trainer;
    private readonly PolicyNetwork? _reference;
    private readonly RewardValidity _validity;
    private long _droppedStale;
    private long _denseTokens;
    private long _stepStarted;

    /// <param name="reference">The warm-started weights: the frozen KL reference (a copy; with LoRA the policy's own base instead).</param>
    public GrpoStep(PipelineSettings settings, PolicyFactory factory, PolicyNetwork policy, WeightSnapshot reference,
        IPolicyTokenizer tokenizer, IReadOnlyList<IReportsMetrics> sourceMetrics, ILoggingAdapter log)
    {
        _s = settings;
        _tokenizer = tokenizer;
        _sourceMetrics = sourceMetrics;
        _log = log;
        _validity = new RewardValidity(settings);
        var g = settings.Grpo;
        var gen = settings.Generation;
        // With LoRA the KL reference is the policy's own frozen base (adapters off): no second copy of the weights.
        var lora = Learning.Lora.LoraAdapters.HasAdapters(policy);
        if (!lora)
        {
            _reference = factory.Create(settings.Seed);
            WeightTransfer.Import(_reference, reference);
        }
        _trainer = new GrpoTrainer(policy, g.KlCoef > 0 ? (lora ? policy : _reference) : null, new GrpoSettings(
            LearningRate: g.LearningRate, WeightDecay: g.WeightDecay, MaxGradNorm: g.MaxGradNorm,
            ClipLow: g.ClipLow, ClipHigh: g.ClipHigh, KlCoef: g.KlCoef, IsCap: g.IsCap,
            Temperature: gen.Temperature > 0 ? gen.Temperature : 1.0, MiniBatches: g.MiniBatches, Epochs: g.Epochs, EntropyCoef: g.EntropyCoef));
    }

    /// <summary>The optimizer whose state checkpoints save and load.</summary>
    public TorchSharp.torch.optim.Optimizer Optimizer => _trainer.Optimizer;

    /// <summary>The run's ledger of masked rollouts so far, for the supervisor's end-of-run summary.</summary>
    public RewardMasking Masking => _validity.Summary();

    /// <summary>
    /// Trains on one served batch over the policy whose tensors <paramref name="live"/> publishes; <paramref name="announce"/>
    /// tells the run about the new version (the actor's job), and with the publication it is the row's <c>timing_s/sync</c>.
    /// A skipped or empty step still advances the version, so admission never stalls.
    /// </summary>
    public Outcome Run(TrainingBatch batch, TrainingPosition at, double waitedSeconds, LiveWeights live, Action<IWeightSource> announce)
    {
        var g = _s.Grpo;
        var dataCursor = at.DataCursor;

        // 1. Filter the served groups and compute each group's advantages over its valid rewards.
        var samples = new List<TrainSample>();
        var fresh = new List<AnnotatedGroup>();
        var overlong = 0;
        foreach (var group in batch.Groups)
        {
            var staleness = at.Version - group.Group.PolicyVersion;
            if (staleness > g.MaxStaleness || staleness < 0)
            {
                // An assertion, not the bound: the buffer enforces staleness at serve time (docs/architecture.md), so this stays 0.
                _droppedStale++;
                _log.Error("The buffer served group {0} of policy version {1} at learner version {2} (max staleness {3}): skipped",
                    group.Group.GroupId, group.Group.PolicyVersion, at.Version, g.MaxStaleness);
                continue;
            }
            fresh.Add(group);
            dataCursor = Math.Max(dataCursor, group.PromptCursor);
            var rewards = group.Rewards.Select(r => r.Reward).ToArray();
            var valid = group.Rewards.Select(r => r.Valid).ToArray();
            var advantages = GroupAdvantages.Compute(rewards, valid);
            for (var i = 0; i < group.Group.Rollouts.Length; i++)
            {
                if (!valid[i]) continue; // masked: an invalid reward contributes nothing, not a zero
                var r = group.Group.Rollouts[i];
                if (g.OverlongFilter && r.Truncated)
                {
                    overlong++; // DAPO: a cut-off answer is not judged on its ending; its group's statistics still count it
                    continue;
                }
                samples.Add(new TrainSample(r.PromptTokens, r.CompletionTokens, r.BehaviourLogProbs, advantages[i], r.PolicyVersion)
                {
                    TokenBonus = DenseBonus(r, group.Rewards[i]),
                });
            }
        }

        // 2. The trainer's step (no optimizer step when every rollout was masked).
        var update = Stopwatch.GetTimestamp();
        live.BeginUpdate();  // readers of the current version finish their chunk first; later ones ask for the next version
        // Linear warm-up: step k (from 0) trains at (k + 1) / warmup of the learning rate.
        _trainer.LearningRate = g.LearningRate * (g.WarmupSteps > 0 ? Math.Min(1.0, (at.Step + 1.0) / g.WarmupSteps) : 1.0);
        GrpoStepStats? stats = samples.Count > 0 ? _trainer.Step(samples) : null;
        var updateSeconds = Stopwatch.GetElapsedTime(update).TotalSeconds;

        // 3. The new version leaves.
        var next = new TrainingPosition(at.Step + 1, at.Version + 1, dataCursor);
        var sync = Stopwatch.GetTimestamp();
        announce(live.Publish(next.Version));
        var syncSeconds = Stopwatch.GetElapsedTime(sync).TotalSeconds;

        // 4. The step's metrics row (names as in veRL and OpenRLHF; metrics.jsonl keeps this shape).
        var stepSeconds = _stepStarted == 0 ? waitedSeconds + updateSeconds + syncSeconds : Stopwatch.GetElapsedTime(_stepStarted).TotalSeconds;
        _stepStarted = Stopwatch.GetTimestamp();
        var data = BatchMetrics.Compute(fresh, at.Version);
        // A step whose rollouts are all masked trains on nothing (no optimizer step); the ledger counts such steps.
        var invalidTooLong = _validity.Observe(fresh, samples.Count);
        _validity.AddMetrics(data);
        data["timing_s/wait"] = waitedSeconds;
        data["timing_s/update"] = updateSeconds;
        data["timing_s/sync"] = syncSeconds;
        data["timing_s/step"] = stepSeconds;
        data["throughput/rollouts_per_s"] = fresh.Sum(f => f.Group.Rollouts.Length) / Math.Max(stepSeconds, 1e-9);
        data["throughput/tokens_per_s"] = fresh.Sum(f => f.Group.TokenCount) / Math.Max(stepSeconds, 1e-9);
        data["policy/version"] = next.Version;
        data["learner/dropped_stale"] = _droppedStale;
        data["learner/samples"] = samples.Count;
        BatchMetrics.AddBufferStats(data, batch.Stats);
        if (stats is not null)
        {
            data["actor/loss"] = stats.Loss;
            data["actor/pg_loss"] = stats.PgLoss;
            data["actor/kl"] = stats.Kl;
            data["actor/pg_clipfrac"] = stats.ClipFrac;
            data["actor/entropy"] = stats.Entropy;
            data["actor/grad_norm"] = stats.GradNorm;
            data["is_ratio/mean"] = stats.IsRatioMean;
            data["is_ratio/max"] = stats.IsRatioMax;
            data["mismatch_kl"] = stats.MismatchKl;
            data["actor/tokens"] = stats.Tokens;
        }
        data["actor/skipped_steps"] = _trainer.SkippedSteps;
        data["actor/lr"] = _trainer.LearningRate;
        data["response/overlong_filtered"] = overlong;
        data["reward/dense_tokens"] = _denseTokens;
        foreach (var source in _sourceMetrics) source.AddMetrics(data);
        return new Outcome(next, data, invalidTooLong);
    }

    /// <summary>Dense feedback: the spans valid signals marked on the completion, as per-token advantage bonuses.</summary>
    private float[]? DenseBonus(Rollout rollout, RolloutRewards rewards)
    {
        var dense = _s.Rewards.DenseWeight;
        if (dense == 0 || rollout.CompletionTokens.Length == 0) return null;
        List<(IReadOnlyList<SpanReward>, double)>? marked = null;
        foreach (var signal in rewards.Signals)
        {
            if (!signal.Valid || signal.Spans is not { Count: > 0 } spans) continue;
            var weight = _s.RewardSources.FirstOrDefault(x => x.Name == signal.Source)?.Weight ?? 0;
            (marked ??= []).Add((spans, dense * weight));
        }
        if (marked is null) return null;
        // Character offset of each completion token: the length of the decoded prefix before it.
        var starts = new int[rollout.CompletionTokens.Length];
        for (var t = 1; t < starts.Length; t++) starts[t] = _tokenizer.Decode(rollout.CompletionTokens.AsSpan(0, t)).Length;
        var bonus = DenseRewards.TokenBonus(marked, starts, rollout.CompletionText.Length);
        if (bonus is not null) _denseTokens += bonus.Count(b => b != 0);
        return bonus;
    }

    public void Dispose()
    {
        _trainer.Dispose();
        _reference?.Dispose();
    }
}
