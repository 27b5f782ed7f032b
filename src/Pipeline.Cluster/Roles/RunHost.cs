using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// The cluster singleton on learner nodes: it owns the run's <see cref="RunSupervisor"/> (and with it the learner, the
/// evaluator and metrics; the replay buffer and prompts are the <see cref="BufferHost"/> singleton's) as its child <c>supervisor</c>. The run folder, shared by the learner
/// nodes, holds <c>cluster-run.json</c> (<see cref="RunMarker"/>): written <c>started</c> when the run begins and
/// <c>finished</c> when it ends.
/// <list type="bullet">
/// <item>First start: creates the supervisor and waits for <see cref="StartRun"/>.</item>
/// <item>Started elsewhere and not finished (the singleton moved because its node left or died): resumes at once from
/// the run's newest checkpoint, with the policy version floor set above every version this node has seen published,
/// so the version never goes backwards. No checkpoint yet: starts the run over.</item>
/// <item>Finished: does nothing (and completes this node's result from the marker).</item>
/// <item><see cref="Handover"/> (the singleton's termination message when its node leaves): interrupts the run, which
/// writes a checkpoint, and stops once the supervisor has stopped; the successor resumes from that checkpoint.</item>
/// </list>
/// </summary>
public sealed class RunHost : ReceiveActor
{
    public const string MarkerFile = "cluster-run.json";
    public const string ChildName = "supervisor";

    /// <summary>
    /// The singleton's termination message (sent by the <see cref="Akka.Cluster.Tools.Singleton.ClusterSingletonManager"/>
    /// when its node leaves): interrupt the run, which writes a checkpoint, then stop, so the successor resumes from it.
    /// </summary>
    public sealed class Handover { public static readonly Handover Instance = new(); }
    private sealed record Finished(RunResult Result);

    /// <summary>Builds the supervisor's inputs for a fresh run (resume null) or a resumed one.</summary>
    public delegate RunSupervisor.Inputs InputsFactory(Learner.ResumePoint? resume, TaskCompletionSource<RunResult> completion);

    private readonly string _runDir;
    private readonly InputsFactory _inputs;
    private readonly Func<long> _newestSeenVersion;
    private readonly TaskCompletionSource<RunResult> _nodeResult;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _supervisor = ActorRefs.Nobody;
    private bool _handingOver;
    private bool _started;

    public RunHost(string runDir, InputsFactory inputs, Func<long> newestSeenVersion, TaskCompletionSource<RunResult> nodeResult)
    {
        _runDir = runDir;
        _inputs = inputs;
        _newestSeenVersion = newestSeenVersion;
        _nodeResult = nodeResult;
        Receive<StartRun>(_ =>
        {
            if (_started || _supervisor.IsNobody()) return;
            _started = true;
            RunMarker.Write(_runDir, new RunMarker(RunMarker.Started, 0, 0, null));
            _supervisor.Tell(StartRun.Instance);
        });
        Receive<Interrupt>(m => _supervisor.Forward(m));
        Receive<Handover>(_ =>
        {
            _handingOver = true;
            if (_supervisor.IsNobody()) Context.Stop(Self);
            else _supervisor.Tell(Interrupt.Instance);
        });
        Receive<Finished>(OnFinished);
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_supervisor)) return;
            _supervisor = ActorRefs.Nobody;
            if (_handingOver) Context.Stop(Self);
        });
    }

    public static Props Props(string runDir, InputsFactory inputs, Func<long> newestSeenVersion, TaskCompletionSource<RunResult> nodeResult)
        => Akka.Actor.Props.Create(() => new RunHost(runDir, inputs, newestSeenVersion, nodeResult));

    protected override void PreStart()
    {
        var marker = RunMarker.Read(_runDir);
        if (marker is null)
        {
            // A fresh run: the buffer, prompts and learner exist at once (generator nodes attach to them); StartRun starts it.
            CreateSupervisor(null);
            return;
        }
        if (marker.IsFinished)
        {
            _log.Info("The run in {0} has finished (step {1}); this singleton has nothing to do", _runDir, marker.Step);
            _nodeResult.TrySetResult(new RunResult(RunStatus.Completed, _runDir, null, null, marker.Step, marker.PolicyVersion, "finished on another node"));
            return;
        }
        // Taking over a run that started elsewhere: resume from its newest checkpoint.
        var floor = _newestSeenVersion() + 1;
        var resume = LocalRun.FindResumePoint(_runDir, warning => _log.Warning("{0}", warning));
        if (resume is not null)
        {
            resume = resume with { VersionFloor = Math.Max(0, floor) };
            // The rows and events written after the checkpoint will be written again by this node.
            foreach (var line in new ResumeCut(resume.Stage, resume.Step).Apply(_runDir)) _log.Info("{0}", line);
        }
        _log.Warning("Taking over the run in {0}: {1}, policy versions from {2}", _runDir,
            resume is null ? "no checkpoint yet, starting over" : $"resuming from {resume.CheckpointDir} (stage {resume.Stage}, step {resume.Step})",
            Math.Max(floor, resume?.PolicyVersion ?? 0));
        CreateSupervisor(resume);
        _started = true;
        _supervisor.Tell(StartRun.Instance);
    }

    /// <summary>
    /// The highest <c>policy/version</c> in the run's metrics rows (-1 when none): a learner node restarted after kill -9
    /// resumes from its last checkpoint, older than the versions it published since, and must number above them.
    /// A last line cut short by the kill is skipped.
    /// </summary>
    public static long NewestRecordedVersion(string runDir)
    {
        var path = Path.Combine(runDir, "metrics.jsonl");
        if (!File.Exists(path)) return -1;
        long newest = -1;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("data", out var data) && data.TryGetProperty("policy/version", out var v) && v.ValueKind == JsonValueKind.Number)
                    newest = Math.Max(newest, (long)v.GetDouble());
            }
            catch (JsonException) { }
        }
        return newest;
    }

    private void CreateSupervisor(Learner.ResumePoint? resume)
    {
        var completion = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var self = Self;
        completion.Task.ContinueWith(t => self.Tell(new Finished(t.Result)), TaskContinuationOptions.OnlyOnRanToCompletion);
        _supervisor = Context.Watch(Context.ActorOf(RunSupervisor.Props(_inputs(resume, completion)), ChildName));
    }

    private void OnFinished(Finished finished)
    {
        var r = finished.Result;
        // Interrupted (Ctrl-C, or a hand-over) leaves the run open for whoever holds the singleton next.
        if (r.Status != RunStatus.Interrupted) RunMarker.Write(_runDir, new RunMarker(RunMarker.Finished, r.Step, r.PolicyVersion, r.Status.ToString()));
        _nodeResult.TrySetResult(r);
        Context.Stop(_supervisor);
    }
}

/// <summary>The run's state in its folder, shared by learner nodes (<see cref="RunHost.MarkerFile"/>).</summary>
public sealed record RunMarker(string Status, long Step, long PolicyVersion, string? Result)
{
    public const string Started = "started";
    public const string Finished = "finished";

    /// <summary>The run ended (completed or failed); an interrupted run stays <see cref="Started"/> for whoever resumes it.</summary>
    public bool IsFinished => Status == Finished;

    /// <summary>Whether the run in <paramref name="runDir"/> has finished.</summary>
    public static bool HasFinished(string runDir) => Read(runDir)?.IsFinished == true;

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static RunMarker? Read(string runDir)
    {
        var path = Path.Combine(runDir, RunHost.MarkerFile);
        return File.Exists(path) ? JsonSerializer.Deserialize<RunMarker>(File.ReadAllText(path), Json) : null;
    }

    public static void Write(string runDir, RunMarker marker)
    {
        Directory.CreateDirectory(runDir);
        var path = Path.Combine(runDir, RunHost.MarkerFile);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(marker, Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
