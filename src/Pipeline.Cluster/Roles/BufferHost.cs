using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// The cluster singleton on buffer nodes (<c>/user/buffer/host</c>): it owns the run's <see cref="ReplayBuffer"/>
/// (child <c>buffer</c>) and its <see cref="PromptSource"/> (child <c>prompts</c>). Generator nodes send their credits
/// requests and annotated groups to the buffer, and the learner its batch requests and versions, through
/// <see cref="LearnerLink"/>s that follow this singleton when it moves.
/// <list type="bullet">
/// <item>A fresh run (no <c>cluster-run.json</c> yet): starts the buffer at policy version 0 and the prompts at the first one.</item>
/// <item>A run under way (the singleton moved because its node left or died): starts at the run's newest checkpoint
/// (its policy version and prompt cursor). Credits the old buffer granted are gone with it: their groups arrive late
/// and are counted as such, and the learner re-sends its batch request and version when its link re-attaches.</item>
/// <item>A finished run (the marker says so, checked every second): stops the buffer, which writes the run's ledger
/// (<c>accounting.json</c>), as the run supervisor stops it in local mode.</item>
/// </list>
/// </summary>
public sealed class BufferHost : ReceiveActor, IWithTimers
{
    public const string BufferName = "buffer";
    public const string PromptsName = "prompts";

    private sealed class CheckMarker { public static readonly CheckMarker Instance = new(); }

    private readonly string _runDir;
    private readonly PipelineSettings _settings;
    private readonly IPipelineTask _task;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _buffer = ActorRefs.Nobody;
    private IActorRef _prompts = ActorRefs.Nobody;

    public ITimerScheduler Timers { get; set; } = null!;

    public BufferHost(string runDir, PipelineSettings settings, IPipelineTask task)
    {
        _runDir = runDir;
        _settings = settings;
        _task = task;
        Receive<CheckMarker>(_ =>
        {
            if (!RunMarker.HasFinished(_runDir)) return;
            _log.Info("The run in {0} has finished: stopping the buffer (it writes the run's ledger)", _runDir);
            Timers.Cancel("marker");
            Context.Stop(_buffer);
            Context.Stop(_prompts);
        });
    }

    public static Props Props(string runDir, PipelineSettings settings, IPipelineTask task)
        => Akka.Actor.Props.Create(() => new BufferHost(runDir, settings, task));

    protected override void PreStart()
    {
        var marker = RunMarker.Read(_runDir);
        if (marker?.IsFinished == true)
        {
            _log.Info("The run in {0} has finished (step {1}); the buffer singleton has nothing to do", _runDir, marker.Step);
            return;
        }
        var resume = marker is null ? null : LocalRun.FindResumePoint(_runDir);
        _prompts = Context.ActorOf(RoleBuilders.Prompts(_settings, _task, resume), PromptsName);
        _buffer = Context.ActorOf(RoleBuilders.Buffer(_settings, _runDir, resume, _prompts), BufferName);
        if (marker is not null)
            _log.Warning("Taking over the buffer of the run in {0}: {1}", _runDir,
                resume is null ? "no checkpoint yet, prompts from the start" : $"policy version {RoleBuilders.StartVersion(resume)}, prompt cursor {resume.DataCursor} (from {resume.CheckpointDir})");
        Timers.StartPeriodicTimer("marker", CheckMarker.Instance, TimeSpan.FromSeconds(1));
    }
}
