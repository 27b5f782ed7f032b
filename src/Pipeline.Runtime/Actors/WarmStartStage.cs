using System.Diagnostics;
using System.Globalization;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sft;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Stage 1 of the learner: supervised warm-start on the task's demonstrations, one epoch at a time, with early stopping
/// on a held-out validation slice; the best epoch's weights are where GRPO starts.
/// </summary>
public sealed class WarmStartStage : IDisposable
{
    /// <summary>Checkpoint key: the position in the next epoch's batch order where an interrupted warm-start epoch stopped.</summary>
    private const string EpochBatchKey = "epoch_batch";
    private const string BestValidationKey = "best_validation";

    private readonly PipelineSettings _s;
    private readonly PolicyNetwork _policy;
    private readonly List<SftExample> _train;
    private readonly List<SftExample> _validation;
    private SftTrainer? _sft;
    private WeightSnapshot? _best;
    private int _epochsWithoutImprovement;
    private int _epochBatch;

    /// <summary>Splits the demonstrations that fit the context, makes the SFT trainer, and loads a warm-start checkpoint to resume from.</summary>
    public WarmStartStage(PipelineSettings settings, PolicyFactory factory, PolicyNetwork policy, IPolicyTokenizer tokenizer, IPipelineTask task,
        Learner.ResumePoint? resume, ILoggingAdapter log)
    {
        _s = settings;
        _policy = policy;
        var ws = settings.WarmStart;
        var examples = task.Demonstrations
            .Select(d => new SftExample(tokenizer.EncodePrompt(d.Prompt), [.. tokenizer.Encode(d.Completion), tokenizer.Eos]))
            .Where(e => e.PromptTokens.Length + e.CompletionTokens.Length <= factory.ContextLength)
            .ToList();
        if (examples.Count < 2) throw new InvalidOperationException("the task has fewer than 2 demonstrations that fit the context");
        new Random(settings.Seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(examples));
        var validation = Math.Max(1, (int)Math.Round(examples.Count * ws.ValidationFraction));
        _validation = examples.Take(validation).ToList();
        _train = examples.Skip(validation).ToList();
        _sft = new SftTrainer(policy, ws.LearningRate, ws.WeightDecay, settings.Grpo.MaxGradNorm);
        // Nothing else computes during the warm-start: use every core (OpenMP thread counts are per calling thread).
        Learning.TorchRuntime.Configure(Environment.ProcessorCount);

        if (resume is { Stage: CheckpointStages.WarmStart } r)
        {
            // Every placement (a cluster learner too): adapters load only over the exact base they were trained on.
            CheckpointStore.RequireSameBase(r.CheckpointDir, factory.AdapterCheckpoint()?.BasePath);
            var meta = CheckpointStore.Load(r.CheckpointDir, policy, _sft.Optimizer);
            Epoch = (int)meta.Step;
            BestValidation = meta.Extra.TryGetValue(BestValidationKey, out var b) ? double.Parse(b, CultureInfo.InvariantCulture) : double.PositiveInfinity;
            _epochBatch = meta.Extra.TryGetValue(EpochBatchKey, out var p) ? int.Parse(p, CultureInfo.InvariantCulture) : 0;
            log.Info("Resumed warm-start at epoch {0}", Epoch);
        }
        log.Info("Warm-start: {0} demonstrations ({1} held for validation), up to {2} epochs", _train.Count, _validation.Count, ws.MaxEpochs);
    }

    /// <summary>The last epoch completed.</summary>
    public int Epoch { get; private set; }

    /// <summary>The lowest validation loss so far (+infinity before the first epoch).</summary>
    public double BestValidation { get; private set; } = double.PositiveInfinity;

    /// <summary>The SFT optimizer whose state warm-start checkpoints save.</summary>
    public TorchSharp.torch.optim.Optimizer Optimizer => (_sft ?? throw new InvalidOperationException("the warm-start has finished")).Optimizer;

    /// <summary>Whether <paramref name="epoch"/> should not run: past the last epoch, or validation stopped improving.</summary>
    public bool StopsBefore(int epoch) => epoch > _s.WarmStart.MaxEpochs || _epochsWithoutImprovement >= _s.WarmStart.Patience;

    /// <summary>
    /// Trains one epoch and returns its metrics row, or null when <paramref name="interrupt"/> cut it short (its position
    /// goes into the next checkpoint's extras, so a resume continues there).
    /// </summary>
    public Dictionary<string, double>? RunEpoch(int epoch, CancellationToken interrupt)
    {
        var ws = _s.WarmStart;
        var sft = _sft ?? throw new InvalidOperationException("the warm-start has finished");
        var started = Stopwatch.GetTimestamp();
        var order = Enumerable.Range(0, _train.Count).ToArray();
        new Random(unchecked(_s.Seed * 7919 + epoch)).Shuffle(order);
        var lossSum = 0.0;
        var batches = 0;
        var tokens = 0L;
        var first = _epochBatch;  // > 0 only when resuming an epoch that an interrupt cut short
        _epochBatch = 0;
        for (var i = first; i < order.Length; i += ws.BatchSize)
        {
            if (interrupt.IsCancellationRequested)
            {
                _epochBatch = i;
                return null;
            }
            var batch = order.Skip(i).Take(ws.BatchSize).Select(j => _train[j]).ToList();
            var loss = sft.Step(batch);
            if (double.IsFinite(loss)) { lossSum += loss; batches++; }
            tokens += batch.Sum(b => b.PromptTokens.Length + b.CompletionTokens.Length);
        }
        var validation = sft.Evaluate(_validation);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Epoch = epoch;
        if (validation < BestValidation - 1e-4)
        {
            BestValidation = validation;
            _best = WeightTransfer.Export(_policy, 0);
            _epochsWithoutImprovement = 0;
        }
        else
        {
            _epochsWithoutImprovement++;
        }
        return new Dictionary<string, double>
        {
            ["sft/epoch"] = Epoch,
            ["sft/loss"] = batches > 0 ? lossSum / batches : double.NaN,
            ["sft/val_loss"] = validation,
            ["sft/best_val_loss"] = BestValidation,
            ["timing_s/sft_epoch"] = elapsed,
            ["throughput/sft_tokens_per_s"] = tokens / Math.Max(elapsed, 1e-9),
        };
    }

    /// <summary>Loads the best epoch's weights into the policy and returns them: the frozen KL reference and GRPO's start.</summary>
    public WeightSnapshot Finish()
    {
        if (_best is not null) WeightTransfer.Import(_policy, _best);
        var snapshot = WeightTransfer.Export(_policy, 0);
        _sft?.Dispose();
        _sft = null;
        return snapshot;
    }

    /// <summary>What a checkpoint of <paramref name="stage"/> records about the warm-start: its best validation loss, and an interrupted epoch's position.</summary>
    public static void AddCheckpointExtras(WarmStartStage? stage, string checkpointStage, IDictionary<string, string> extra)
    {
        extra[BestValidationKey] = (stage?.BestValidation ?? double.PositiveInfinity).ToString("R", CultureInfo.InvariantCulture);
        if (checkpointStage == CheckpointStages.WarmStart && stage is { _epochBatch: > 0 } s)
            extra[EpochBatchKey] = s._epochBatch.ToString(CultureInfo.InvariantCulture);
    }

    public void Dispose() => _sft?.Dispose();
}
