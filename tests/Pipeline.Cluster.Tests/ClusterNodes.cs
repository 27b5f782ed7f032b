using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote;
using Akka.Remote.Transport;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Several cluster-mode ActorSystems on loopback in one test process: each with the pipeline serializer and the tripwire
/// in place of the JSON fallback, and the throttler transport adapter (<c>trttl</c>) so a test can blackhole a node.
/// Failure detection and the split-brain resolver are tightened so downing takes seconds, not the production 20 s.
/// </summary>
public sealed class ClusterNodes : IAsyncDisposable
{
    public const string FastFailureDetection = """
        akka.remote.dot-netty.tcp.applied-adapters = [trttl]
        akka.cluster.failure-detector.heartbeat-interval = 500ms
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s
        akka.cluster.split-brain-resolver.stable-after = 3s
        akka.cluster.down-removal-margin = 1s
        akka.cluster.singleton.hand-over-retry-interval = 500ms
        akka.cluster.singleton-proxy.singleton-identification-interval = 500ms
        akka.coordinated-shutdown.phases.cluster-exiting.timeout = 30s
        akka.loglevel = WARNING
        """;

    private readonly PipelineSettings _settings;
    private readonly Action<string> _log;
    private readonly List<ActorSystem> _systems = [];
    private readonly List<ClusterNode> _nodes = [];

    public ClusterNodes(PipelineSettings settings, Action<string> log)
    {
        _settings = settings;
        _log = log;
        TripwireSerializer.Hits.Clear();  // process-wide: earlier specs (TripwireSpec) leave their deliberate hits in it
    }

    /// <summary>Log lines that mean a message could not cross a node (serialization failures, oversized frames).</summary>
    public ConcurrentQueue<string> WireTrouble { get; } = new();

    private sealed class TroubleWatcher : ReceiveActor
    {
        public TroubleWatcher(ConcurrentQueue<string> sink)
        {
            Receive<LogEvent>(e =>
            {
                var text = e.Message?.ToString() + " " + e.Cause;
                if (text.Contains("serializ", StringComparison.OrdinalIgnoreCase) || text.Contains("Oversized", StringComparison.OrdinalIgnoreCase))
                    sink.Enqueue($"{e.LogSource}: {text}");
            });
        }
    }

    public ActorSystem Create(params string[] roles)
    {
        var config = ConfigurationFactory.ParseString(TripwireSerializer.Config)
            .WithFallback(ConfigurationFactory.ParseString(FastFailureDetection))
            .WithFallback(ClusterRoles.NodeConfig(_settings, "127.0.0.1", 0, roles));
        var system = ActorSystem.Create("pipeline", config);
        var watcher = system.ActorOf(Props.Create(() => new TroubleWatcher(WireTrouble)), "wire-trouble");
        system.EventStream.Subscribe(watcher, typeof(Error));
        system.EventStream.Subscribe(watcher, typeof(Warning));
        _systems.Add(system);
        return system;
    }

    /// <summary>hocon/smoke.conf in cluster mode, sized for tests (one warm-start epoch, one generator per node, 2 groups of 4 per batch), then <paramref name="extra"/>.</summary>
    public static PipelineSettings SmokeSettings(params string[] extra) => PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster",
        RepoRoot.Combine("hocon", "smoke.conf"),
        ["warm-start.max-epochs=1", "grpo.batch-groups=2", "generation.group-size=4", "generation.generators=1", "eval.limit=10", .. extra]);

    /// <summary>A learner node and <paramref name="generators"/> generator nodes: created, joined into one cluster, their roles started.</summary>
    public async Task<(ActorSystem LearnerSystem, ClusterNode Learner, ActorSystem[] GeneratorSystems, ClusterNode[] Generators)> StartLearnerAndGeneratorsAsync(
        string runDir, int generators, TimeSpan joinDeadline)
    {
        var a = Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var gens = Enumerable.Range(0, generators).Select(_ => Create(ClusterRoles.Generator, ClusterRoles.Annotator)).ToArray();
        await JoinAllAsync(joinDeadline);
        var learner = await StartAsync(a, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var started = await Task.WhenAll(gens.Select(g => StartAsync(g, runDir, ClusterRoles.Generator, ClusterRoles.Annotator)));
        return (a, learner, gens, started);
    }

    public static Address AddressOf(ActorSystem system) => AkkaCluster.Get(system).SelfAddress;

    /// <summary>The first system is the seed; waits until every system sees all of them Up.</summary>
    public async Task JoinAllAsync(TimeSpan deadline)
    {
        var seed = AddressOf(_systems[0]);
        AkkaCluster.Get(_systems[0]).Join(seed);
        foreach (var s in _systems.Skip(1)) AkkaCluster.Get(s).JoinSeedNodes([seed]);
        await WaitUntil(() => _systems.All(s => AkkaCluster.Get(s).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == _systems.Count),
            deadline, $"all {_systems.Count} members Up");
    }

    public async Task<ClusterNode> StartAsync(ActorSystem system, string runDir, params string[] roles)
    {
        var node = await ClusterRoles.StartAsync(system, _settings, runDir, roles, TimeSpan.FromSeconds(60), _log);
        _nodes.Add(node);
        return node;
    }

    /// <summary>Drops every message between <paramref name="a"/> and <paramref name="b"/>, both ways, at a's transport.</summary>
    public static async Task BlackholeAsync(ActorSystem a, ActorSystem b)
    {
        var transport = ((IRemoteActorRefProvider)((ExtendedActorSystem)a).Provider).Transport;
        var ok = await transport.ManagementCommand(new SetThrottle(AddressOf(b), ThrottleTransportAdapter.Direction.Both, Blackhole.Instance))
            .WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(ok, $"blackholing {AddressOf(b)} from {AddressOf(a)} was refused");
    }

    public static async Task WaitUntil(Func<bool> condition, TimeSpan deadline, string what)
    {
        var until = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"not reached within {deadline.TotalSeconds:0}s: {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>Like <see cref="WaitUntil(Func{bool}, TimeSpan, string)"/>, logging every node's progress every 10 s and on timeout.</summary>
    public async Task WaitUntilLogging(Func<bool> condition, TimeSpan deadline, string what)
    {
        var until = DateTime.UtcNow + deadline;
        var nextLog = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"not reached within {deadline.TotalSeconds:0}s: {what}\n{Progress()}\n{await BuffersAsync()}");
            if (DateTime.UtcNow > nextLog)
            {
                _log($"waiting for {what}:\n{Progress()}");
                nextLog += TimeSpan.FromSeconds(10);
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Waits for a learner node's run result (bounded), logging progress every 10 s and on timeout.</summary>
    public async Task<RunResult> CompletionOf(ClusterNode learnerNode, TimeSpan deadline)
    {
        var completion = learnerNode.Completion ?? throw new InvalidOperationException("not a learner node");
        await WaitUntilLogging(() => completion.IsCompleted, deadline, "the run to finish");
        return await completion;
    }

    /// <summary>The replay buffer singleton's path on a buffer node.</summary>
    public static string BufferPath => "/" + string.Join("/", ClusterRoles.BufferPath);

    /// <summary>The books of the buffer on each node that may host it (credits granted, outstanding and to whom, groups).</summary>
    public async Task<string> BuffersAsync()
    {
        var lines = new List<string>();
        foreach (var n in _nodes.Where(n => n.System.Settings.Config.GetStringList("akka.cluster.roles").Contains(ClusterRoles.Buffer)))
        {
            try
            {
                var ledger = await n.System.ActorSelection(BufferPath)
                    .Ask<BufferLedger>(ReplayBuffer.GetLedger.Instance, TimeSpan.FromSeconds(2));
                lines.Add($"  buffer on {AddressOf(n.System)}: {ledger with { }} holders [{string.Join(", ", ledger.CreditHolders)}] " +
                    $"released by [{string.Join(", ", ledger.CreditsReleasedBy.Select(kv => kv.Key + "=" + kv.Value))}]");
            }
            catch (Exception e) when (e is TimeoutException or ActorNotFoundException or AskTimeoutException)
            {
                lines.Add($"  buffer on {AddressOf(n.System)}: no answer ({e.GetType().Name})");
            }
        }
        return string.Join("\n", lines);
    }

    /// <summary>One line per node: steps, the last metrics row's step and stage, groups delivered, weights held and pulled.</summary>
    public string Progress() => string.Join("\n", _nodes.Select(n =>
    {
        var w = n.WeightsCounter;
        var reports = n.Reports;
        var last = reports.Count > 0 ? reports[^1] : null;
        var lastKeys = last is null ? "-" : string.Join(",", last.Data.Keys.Take(4));
        return $"  {AddressOf(n.System)}: steps {Versions(n).Count}, metrics rows {reports.Count} (last step {last?.Step}, keys {lastKeys}), " +
            $"groups {n.Groups} (dropped {n.BufferLink.Dropped}, attached {n.BufferLink.Attached}x), weights newest v{w.NewestVersion} " +
            $"(published {w.ToTopic}, pulled {w.FromTopic}, chunks {w.ChunksReceived}, failed {w.FailedTransfers})" +
            (n.Completion is { IsCompleted: true } c ? $", run {c.Result.Status}" : "");
    }));

    /// <summary>The policy versions a learner node's metrics recorded, in order.</summary>
    public static List<double> Versions(ClusterNode node)
        => node.Reports.Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Data["policy/version"]).ToList();

    public static BufferLedger Ledger(string runDir)
        => BufferLedger.Read(Path.Combine(runDir, RunSupervisor.AccountingFile)) ?? throw new Xunit.Sdk.XunitException($"no {RunSupervisor.AccountingFile} in {runDir}");

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Enumerable.Reverse(_systems))
        {
            try { await s.Terminate().WaitAsync(TimeSpan.FromSeconds(15)); }
            catch (TimeoutException) { _log($"{s.Name} did not terminate within 15 s"); }
        }
        foreach (var n in _nodes) n.Dispose();
    }
}
