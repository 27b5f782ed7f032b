using Pipeline.Core.Rewards;
using Pipeline.Oni.RewardModels;

namespace Pipeline.Runtime.Actors.Oni;

/// <summary>
/// The ONI counters every step's metrics carry (rm/*, critic/* label pipeline). Written by the labeller and the trainer
/// actors, read by the learner when it reports a step; all fields are read and written atomically.
/// </summary>
public sealed class OniStats : IReportsMetrics
{
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private long _labels, _heldOut, _rmVersion, _published;
    private double _loss = double.NaN, _acc = double.NaN;
    private HeldOutMetrics _heldOutMetrics = HeldOutMetrics.Empty;
    private long _offered, _sampled, _labelled, _dropped, _duplicates, _failed, _queue;

    public void Labeller(CriticLabeller.Stats s)
    {
        Interlocked.Exchange(ref _offered, s.Offered);
        Interlocked.Exchange(ref _sampled, s.Sampled);
        Interlocked.Exchange(ref _labelled, s.Labelled);
        Interlocked.Exchange(ref _dropped, s.Dropped);
        Interlocked.Exchange(ref _duplicates, s.Duplicates);
        Interlocked.Exchange(ref _failed, s.Failed);
        Interlocked.Exchange(ref _queue, s.Backlog);
    }

    public void Trainer(long labels, long heldOut, long version, double loss, double acc, HeldOutMetrics heldOutMetrics, long published)
    {
        Interlocked.Exchange(ref _labels, labels);
        Interlocked.Exchange(ref _heldOut, heldOut);
        Interlocked.Exchange(ref _rmVersion, version);
        Interlocked.Exchange(ref _loss, loss);
        Interlocked.Exchange(ref _acc, acc);
        Volatile.Write(ref _heldOutMetrics, heldOutMetrics ?? HeldOutMetrics.Empty);
        Interlocked.Exchange(ref _published, published);
    }

    public double Agreement => Volatile.Read(ref _heldOutMetrics).Agreement;
    public long Labels => Interlocked.Read(ref _labels) + Interlocked.Read(ref _heldOut);

    public void AddMetrics(IDictionary<string, double> data)
    {
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(_started).TotalSeconds;
        data["rm/labels"] = Labels;
        data["rm/heldout_labels"] = Interlocked.Read(ref _heldOut);
        data["rm/train_loss"] = Volatile.Read(ref _loss);
        data["rm/train_acc"] = Volatile.Read(ref _acc);
        var held = Volatile.Read(ref _heldOutMetrics);
        data["rm/agreement"] = held.Agreement;
        // The trivial answer's agreement, so rm/agreement can be read against it (a constant answer has balanced accuracy 0.5).
        data["rm/majority_baseline"] = held.MajorityBaseline;
        data["rm/balanced_accuracy"] = held.BalancedAccuracy;
        data["rm/auc"] = held.Auc;
        data["rm/heldout_positive_frac"] = held.Count > 0 ? held.Positives / (double)held.Count : double.NaN;
        data["rm/version"] = Interlocked.Read(ref _rmVersion);
        data["rm/published_version"] = Interlocked.Read(ref _published);
        var offered = Interlocked.Read(ref _offered);
        var labelled = Interlocked.Read(ref _labelled);
        data["critic/queue_depth"] = Interlocked.Read(ref _queue);
        data["critic/dropped"] = Interlocked.Read(ref _dropped);
        data["critic/duplicates"] = Interlocked.Read(ref _duplicates);
        data["critic/label_failures"] = Interlocked.Read(ref _failed);
        data["critic/labels"] = labelled;
        data["critic/labels_per_s"] = seconds > 0 ? labelled / seconds : 0;
        data["critic/seen_frac"] = offered > 0 ? labelled / (double)offered : 0;
    }
}
