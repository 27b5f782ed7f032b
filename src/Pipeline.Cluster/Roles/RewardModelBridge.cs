using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// ONI in cluster mode: carries <see cref="RewardModelTrainer.RewardModelPublished"/> from the rm-trainer node, where
/// the reward-model trainer (<see cref="OniHost"/>) publishes on the EventStream, to the annotating nodes, whose intrinsic reward sources load the
/// published model from the shared run folder. The model itself does not travel: only its version and folder.
/// <list type="bullet">
/// <item>On the rm-trainer node (<c>publisher</c>): each newer publication goes to the topic <see cref="Topic"/>.</item>
/// <item>On any other node with an annotation stage: what comes from the topic is published on the node's EventStream with its folder rebased
/// onto this node's run folder (the part from <c>reward-model/</c> on), so nodes may mount the run folder at different
/// paths. Every <c>poll</c> it also looks in the shared run folder for the newest complete publication
/// (<see cref="OniSetup.Latest"/>) and publishes that: the folder is the source of truth, the topic only makes it quick
/// (a run was seen to end with one generator node never hearing of any of 20 publications). Nothing is deduplicated here:
/// <see cref="IntrinsicRewardSource.Update"/> ignores versions it holds, so a load that failed is simply tried again.</item>
/// </list>
/// </summary>
public sealed class RewardModelBridge : ReceiveActor, IWithTimers
{
    public const string Topic = "reward-model";

    private sealed class Poll { public static readonly Poll Instance = new(); }

    private readonly IActorRef _mediator;
    private readonly bool _publisher;
    private readonly string _runDir;
    private readonly TimeSpan _poll;
    private long _newest = -1;

    public ITimerScheduler Timers { get; set; } = null!;

    public RewardModelBridge(IActorRef mediator, bool publisher, string runDir, TimeSpan poll)
    {
        _mediator = mediator;
        _publisher = publisher;
        _runDir = runDir;
        _poll = poll;
        Receive<RewardModelTrainer.RewardModelPublished>(published =>
        {
            if (!_publisher)
            {
                Context.System.EventStream.Publish(published with { Dir = Rebase(published.Dir, _runDir) });
                return;
            }
            if (published.Version <= _newest) return;
            _newest = published.Version;
            _mediator.Tell(new Publish(Topic, published));
        });
        Receive<Poll>(_ =>
        {
            if (OniSetup.Latest(_runDir) is { } dir && VersionOf(dir) is { } version)
                Context.System.EventStream.Publish(new RewardModelTrainer.RewardModelPublished(version, dir));
        });
        Receive<SubscribeAck>(_ => { });
    }

    public static Props Props(IActorRef mediator, bool publisher, string runDir, TimeSpan? poll = null)
        => Akka.Actor.Props.Create(() => new RewardModelBridge(mediator, publisher, runDir, poll ?? TimeSpan.FromSeconds(2)));

    protected override void PreStart()
    {
        if (_publisher)
        {
            Context.System.EventStream.Subscribe(Self, typeof(RewardModelTrainer.RewardModelPublished));
        }
        else
        {
            _mediator.Tell(new Subscribe(Topic, Self));
            Timers.StartPeriodicTimer("poll", Poll.Instance, _poll);
        }
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    /// <summary>The version in a publication's folder name (<c>v00000040</c>), or null.</summary>
    public static long? VersionOf(string dir)
        => Path.GetFileName(dir.TrimEnd('/', '\\')) is ['v', .. var digits] && long.TryParse(digits, out var v) ? v : null;

    /// <summary>The rm-trainer node's <paramref name="dir"/> inside this node's <paramref name="runDir"/>: from the <c>reward-model</c> folder on.</summary>
    public static string Rebase(string dir, string runDir)
    {
        var parts = dir.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var at = Array.LastIndexOf(parts, OniSetup.Folder);
        return at < 0 ? dir : Path.Combine([runDir, .. parts[at..]]);
    }
}
