using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// ONI in cluster mode: carries <see cref="RewardModelTrainer.RewardModelPublished"/> from the learner node, where the
/// reward-model trainer publishes on the EventStream, to the generator nodes, whose intrinsic reward sources load the
/// published model from the shared run folder. The model itself does not travel: only its version and folder.
/// <list type="bullet">
/// <item>On the learner node (<c>publisher</c>): each newer publication goes to the topic <see cref="Topic"/>, and the
/// newest is published again every <c>repeat</c> (a node whose subscription spread after a publication still gets it,
/// as with <see cref="WeightsBridge"/>).</item>
/// <item>On a generator node: what comes from the topic is published on the node's EventStream with its folder rebased
/// onto this node's run folder (the part from <c>reward-model/</c> on), so nodes may mount the run folder at different
/// paths.</item>
/// </list>
/// </summary>
public sealed class RewardModelBridge : ReceiveActor, IWithTimers
{
    public const string Topic = "reward-model";

    private sealed class Repeat { public static readonly Repeat Instance = new(); }

    private readonly IActorRef _mediator;
    private readonly bool _publisher;
    private readonly string _runDir;
    private readonly TimeSpan _repeat;
    private RewardModelTrainer.RewardModelPublished? _newest;

    public ITimerScheduler Timers { get; set; } = null!;

    public RewardModelBridge(IActorRef mediator, bool publisher, string runDir, TimeSpan repeat)
    {
        _mediator = mediator;
        _publisher = publisher;
        _runDir = runDir;
        _repeat = repeat;
        Receive<RewardModelTrainer.RewardModelPublished>(published =>
        {
            if (_newest is not null && published.Version <= _newest.Version) return;
            _newest = published;
            if (_publisher) _mediator.Tell(new Publish(Topic, published));
            else Context.System.EventStream.Publish(published with { Dir = Rebase(published.Dir, _runDir) });
        });
        Receive<Repeat>(_ =>
        {
            if (_newest is not null) _mediator.Tell(new Publish(Topic, _newest));
        });
        Receive<SubscribeAck>(_ => { });
    }

    public static Props Props(IActorRef mediator, bool publisher, string runDir, TimeSpan? repeat = null)
        => Akka.Actor.Props.Create(() => new RewardModelBridge(mediator, publisher, runDir, repeat ?? TimeSpan.FromSeconds(2)));

    protected override void PreStart()
    {
        if (_publisher)
        {
            Context.System.EventStream.Subscribe(Self, typeof(RewardModelTrainer.RewardModelPublished));
            Timers.StartPeriodicTimer("repeat", Repeat.Instance, _repeat);
        }
        else
        {
            _mediator.Tell(new Subscribe(Topic, Self));
        }
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    /// <summary>The learner node's <paramref name="dir"/> inside this node's <paramref name="runDir"/>: from the <c>reward-model</c> folder on.</summary>
    public static string Rebase(string dir, string runDir)
    {
        var parts = dir.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var at = Array.LastIndexOf(parts, OniSetup.Folder);
        return at < 0 ? dir : Path.Combine([runDir, .. parts[at..]]);
    }
}
