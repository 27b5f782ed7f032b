using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// ONI's cluster singleton on rm-trainer nodes (<c>/user/oni/host</c>): the critic labeller (child <c>critic-labeller</c>,
/// which generator nodes send their groups to through a link) and the reward-model trainer it feeds (child
/// <c>rm-trainer</c>, which publishes each model into the shared run folder and on this node's EventStream, where the
/// <see cref="RewardModelBridge"/> announces it). Every <c>report</c> (<c>pipeline.cluster.source-metrics-every</c>, 1 s) it sends ONI's counters (labels, reward-model version and
/// loss, critic queue) to the learner node (<see cref="RemoteMetrics"/>), so the run's metrics show them as in local mode.
/// A run under way (the singleton moved) resumes from the newest published reward model; a finished run starts nothing.
/// </summary>
public sealed class OniHost : ReceiveActor
{
    public const string TrainerName = "rm-trainer";
    public const string LabellerName = "critic-labeller";

    private readonly string _runDir;
    private readonly Func<bool, OniParts> _build;
    private readonly IActorRef _metrics;
    private readonly TimeSpan _report;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private OniParts? _parts;

    /// <param name="build">Builds ONI's parts; its argument says whether to resume from the run folder's newest reward model.</param>
    /// <param name="metrics">Where ONI's counters go every <paramref name="report"/> (a link to the learner node's <see cref="RemoteMetrics"/> receiver).</param>
    public OniHost(string runDir, Func<bool, OniParts> build, IActorRef metrics, TimeSpan report)
    {
        _report = report;
        _runDir = runDir;
        _build = build;
        _metrics = metrics;
    }

    public static Props Props(string runDir, Func<bool, OniParts> build, IActorRef metrics, TimeSpan report)
        => Akka.Actor.Props.Create(() => new OniHost(runDir, build, metrics, report));

    protected override void PreStart()
    {
        var marker = RunMarker.Read(_runDir);
        if (marker?.IsFinished == true)
        {
            _log.Info("The run in {0} has finished; the ONI singleton has nothing to do", _runDir);
            return;
        }
        var resume = marker is not null;
        _parts = _build(resume);
        var trainer = Context.ActorOf(RoleBuilders.OniTrainer(_parts), TrainerName);
        Context.ActorOf(RoleBuilders.OniLabeller(_parts, trainer), LabellerName);
        if (resume) _log.Warning("Taking over ONI for the run in {0}: reward model from {1}", _runDir, OniSetup.Latest(_runDir) ?? "scratch (none published yet)");
        Context.ActorOf(MetricsReporter.Props(RoleBuilders.OniCounters(_parts), _metrics, _report),
            "metrics-reporter");
    }

    /// <summary>The children (trainer, labeller) have stopped by now; the critic client and the encoder go with them.</summary>
    protected override void PostStop() => _parts?.Dispose();
}

/// <summary>
/// Counters another node reports (ONI's, from the rm-trainer node), added to the learner's metrics rows: the newest
/// snapshot that <see cref="RemoteMetricsReceiver"/> took in, at most about a second old.
/// </summary>
public sealed class RemoteMetrics : IReportsMetrics, IRemoteMetricsSink
{
    private volatile IReadOnlyDictionary<string, double> _latest = new Dictionary<string, double>();

    /// <summary>How many snapshots arrived.</summary>
    public long Received => Interlocked.Read(ref _received);
    private long _received;

    /// <summary>Takes the newest snapshot, whoever sent it (one rm-trainer singleton reports at a time).</summary>
    public void Set(IActorRef reporter, IReadOnlyDictionary<string, double> data)
    {
        _latest = data;
        Interlocked.Increment(ref _received);
    }

    public void AddMetrics(IDictionary<string, double> data)
    {
        foreach (var (key, value) in _latest) data[key] = value;
    }
}

/// <summary>Where the learner node keeps the counters other nodes' <see cref="MetricsReporter"/>s send.</summary>
public interface IRemoteMetricsSink
{
    void Set(IActorRef reporter, IReadOnlyDictionary<string, double> data);
}

/// <summary>
/// Takes <see cref="MetricsReport"/>s sent from other nodes into a sink, with the reporter that sent each (on the learner
/// node: ONI's at <c>/user/oni-metrics</c> into a <see cref="RemoteMetrics"/>, the reward sources' at
/// <c>/user/source-metrics</c> into a <see cref="ClusterSourceMetrics"/>).
/// </summary>
public sealed class RemoteMetricsReceiver : ReceiveActor
{
    public RemoteMetricsReceiver(IRemoteMetricsSink sink) => Receive<MetricsReport>(r => sink.Set(Sender, r.Data));

    public static Props Props(IRemoteMetricsSink sink) => Akka.Actor.Props.Create(() => new RemoteMetricsReceiver(sink));
}
