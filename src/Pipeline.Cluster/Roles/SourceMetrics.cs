using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// Sends counters to the learner node's <see cref="RemoteMetricsReceiver"/> through a link every <c>every</c>
/// (<c>pipeline.cluster.source-metrics-every</c>), so the run's metrics rows show what other nodes did, as local mode's
/// show its own: on annotator and critic nodes their reward sources' (<see cref="IReportsMetrics"/>: the critic client's
/// requests, failures by reason, cache, breaker; the encoder's cache; the intrinsic source's window), on the rm-trainer
/// node ONI's (<see cref="OniHost"/>).
/// </summary>
public sealed class MetricsReporter : ReceiveActor, IWithTimers
{
    private sealed class Report { public static readonly Report Instance = new(); }

    public ITimerScheduler Timers { get; set; } = null!;

    private readonly TimeSpan _every;

    public MetricsReporter(IReadOnlyList<IReportsMetrics> sources, IActorRef learnerNode, TimeSpan every)
    {
        _every = every;
        Receive<Report>(_ =>
        {
            var data = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var source in sources) source.AddMetrics(data);
            learnerNode.Tell(new MetricsReport(0, data));
        });
    }

    protected override void PreStart() => Timers.StartPeriodicTimer("report", Report.Instance, _every);

    public static Props Props(IReadOnlyList<IReportsMetrics> sources, IActorRef learnerNode, TimeSpan every)
        => Akka.Actor.Props.Create(() => new MetricsReporter(sources, learnerNode, every));
}

/// <summary>
/// The learner node's view of every node's reward-source counters: the newest snapshot of each reporter (one per node
/// incarnation, so a restarted node's counters starting again from 0 do not lower the totals), combined per key into the
/// learner's metrics rows. Counters (requests, successes, failures/..., cache hits and misses, ...) are summed over the
/// nodes; flags and versions (<c>breaker_open</c>, <c>untrusted</c>, <c>model_version</c>) take the largest; rates, means and fractions
/// (<c>..._rate</c>, <c>..._mean</c>, <c>..._frac</c>, <c>sparsity</c>, <c>canary_accuracy</c>) the mean over the nodes that have a value.
/// <c>cluster/source_metric_nodes</c> says how many reporters it heard from. Each snapshot is at most about a second old.
/// </summary>
public sealed class ClusterSourceMetrics : IReportsMetrics, IRemoteMetricsSink
{
    /// <summary>Node incarnations remembered (far more than a cluster restarts during a run); the oldest-heard goes first.</summary>
    public const int MaxReporters = 1024;

    private readonly object _gate = new();
    private readonly Dictionary<IActorRef, (long Seq, IReadOnlyDictionary<string, double> Data)> _latest = new();
    private long _seq;

    /// <summary>Takes a reporter's newest snapshot.</summary>
    public void Set(IActorRef reporter, IReadOnlyDictionary<string, double> data)
    {
        lock (_gate)
        {
            _latest[reporter] = (++_seq, data);
            if (_latest.Count > MaxReporters) _latest.Remove(_latest.MinBy(kv => kv.Value.Seq).Key);
        }
    }

    public void AddMetrics(IDictionary<string, double> data)
    {
        List<IReadOnlyDictionary<string, double>> snapshots;
        lock (_gate) snapshots = _latest.Values.Select(v => v.Data).ToList();
        data["cluster/source_metric_nodes"] = snapshots.Count;
        foreach (var key in snapshots.SelectMany(s => s.Keys).Distinct(StringComparer.Ordinal))
        {
            var values = snapshots.Where(s => s.ContainsKey(key)).Select(s => s[key]).ToList();
            data[key] = Combine(key, values);
        }
    }

    /// <summary>How the nodes' values of one key make the run's value (see the type's summary).</summary>
    public static double Combine(string key, IReadOnlyList<double> values)
    {
        var name = key[(key.LastIndexOf('/') + 1)..];
        if (name is "breaker_open" or "model_version" or "untrusted")
            return values.Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Max();
        if (name.EndsWith("_rate", StringComparison.Ordinal) || name.EndsWith("_mean", StringComparison.Ordinal)
            || name.EndsWith("_frac", StringComparison.Ordinal) || name is "sparsity" or "canary_accuracy")
        {
            var present = values.Where(v => !double.IsNaN(v)).ToList();
            return present.Count == 0 ? double.NaN : present.Average();
        }
        return values.Where(v => !double.IsNaN(v)).Sum();
    }
}
