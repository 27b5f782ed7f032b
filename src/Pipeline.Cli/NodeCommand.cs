using System.CommandLine;
using Akka.Actor;
using Pipeline.Cluster.Bootstrap;
using Pipeline.Cluster.Roles;
using Pipeline.Cluster.Security;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline node --role ... --seed host:port --run DIR</c>: one cluster node; the same actors as <c>train</c>, placed
/// by role (<see cref="ClusterRoles"/>): learner and buffer (two singletons, usually on one node), generator and annotator
/// (any number, together or apart), critic (the slow reward sources, with pipeline.cluster.slow-sources = critic-nodes),
/// rm-trainer (ONI's labeller and reward-model trainer); every node shares the run folder.
/// </summary>
internal static class NodeCommand
{
    private static readonly Option<string[]> Roles = new("--role")
    {
        Description = "Roles of this node: learner, buffer (singletons; usually together as learner,buffer; more such nodes are standbys), generator, annotator (usually together), critic (slow reward sources, with --set cluster.slow-sources=critic-nodes on every node), rm-trainer (ONI's labeller and reward-model trainer). Comma-separated or repeated.",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };

    private static readonly Option<string[]> Seeds = new("--seed")
    {
        Description = "host:port of a seed node (repeatable). Without it this node is the seed and joins itself.",
        AllowMultipleArgumentsPerToken = true,
    };

    private static readonly Option<string> Host = new("--host")
    {
        Description = "Address to bind and advertise.",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    private static readonly Option<int?> Port = new("--port") { Description = "Remoting port (default: akka.remote.dot-netty.tcp.port, 4053; 0 = any)." };

    private static readonly Option<DirectoryInfo> Run = new("--run")
    {
        Description = "The run folder, shared by every node.",
        Required = true,
    };

    private static readonly Option<int> WaitGenerators = new("--wait-generators")
    {
        Description = "Learner node: how many generator nodes must be Up before the run starts.",
        DefaultValueFactory = _ => 1,
    };

    private static readonly Option<bool> Bootstrap = new("--bootstrap")
    {
        Description = "Join through Akka.Management Cluster Bootstrap (pipeline.cluster.bootstrap: discovery, contact points) instead of --seed.",
    };

    private static readonly Option<bool> Insecure = new("--insecure")
    {
        Description = "Allow plain TCP (pipeline.cluster.tls.enabled = off) on a non-loopback --host. Without it such a node refuses to start: any host that reaches the port could join. Only on a network you trust.",
    };

    public static Command Create()
    {
        var command = new Command("node", """
            Join an Akka.Cluster as one node of a run: the same actors as 'train', placed by role.
            The learner node (--role learner,buffer) runs the learner and the buffer as cluster singletons and exits with the
            run's result; generator nodes (--role generator,annotator) generate and score groups until the learner node leaves.
            """)
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.HoconDir, Roles, Seeds, Host, Port, Run, WaitGenerators, Bootstrap, Insecure,
        };
        command.SetAction((parse, ct) => RunAsync(parse, ct));
        return command;
    }

    /// <summary>What a node needs to create (and re-create) its ActorSystem and join.</summary>
    private sealed record NodeSetup(PipelineSettings Settings, Akka.Configuration.Config Config, TlsSettings Tls, BootstrapSettings? Bootstrap,
        IReadOnlyList<Address> Seeds, IReadOnlyList<string> Roles, string RunDir);

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var hocon = CommonOptions.ResolveHoconDir(parse.GetValue(CommonOptions.HoconDir));
        var roles = (parse.GetValue(Roles) ?? []).SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct().ToList();
        // base.conf <- cluster.conf <- roles/<role>.conf for each role <- --config <- --set
        var settings = SettingsValidation.Check(PipelineSettings.Load(hocon, "cluster", roles.Select(r => "roles/" + r),
            parse.GetValue(CommonOptions.Config)?.FullName, parse.GetValue(CommonOptions.Set) ?? []));
        var runDir = parse.GetValue(Run)!.FullName;
        var host = parse.GetValue(Host)!;
        var port = parse.GetValue(Port) ?? settings.Hocon.GetInt("akka.remote.dot-netty.tcp.port", 4053);
        var tls = TlsSettings.From(settings.Hocon);
        var seeds = (parse.GetValue(Seeds) ?? []).Select(s => ParseSeed(s, RemotingTls.Protocol(tls))).ToList();
        ClusterRoles.Validate(roles, settings);
        var rejoinDeadline = ClusterRoles.RejoinDeadline(settings);

        var bootstrap = BootstrapSettings.From(settings.Hocon) is var b && (parse.GetValue(Bootstrap) || b.Enabled) ? b with { Enabled = true } : null;
        if (bootstrap is not null && seeds.Count > 0) throw new ConfigException("--seed and --bootstrap (pipeline.cluster.bootstrap.enabled) exclude each other");
        var nodeConfig = ClusterRoles.NodeConfig(settings, host, port, roles);
        RemotingTls.RefuseInsecureBinding(nodeConfig, tls, parse.GetValue(Insecure));
        if (!tls.Enabled && !RemotingTls.IsLoopback(host))
            Console.Error.WriteLine($"warning: --insecure: remoting on {host} without TLS; any host that reaches port {port} can join this cluster");
        var setup = new NodeSetup(settings, bootstrap is null ? nodeConfig : ClusterBootstrapSetup.Apply(nodeConfig, bootstrap), tls, bootstrap, seeds, roles, runDir);
        return roles.Contains(ClusterRoles.Learner)
            ? await RunLearnerNodeAsync(setup, parse.GetValue(WaitGenerators), ct)
            : await RunWorkerNodeAsync(setup, rejoinDeadline, ct);
    }

    /// <summary>Creates the node's ActorSystem, joins (seeds, itself, or Cluster Bootstrap) and waits until it is Up; a failed or cancelled wait terminates the system.</summary>
    private static async Task<ActorSystem> JoinAsync(NodeSetup setup, TimeSpan upWithin, CancellationToken ct)
    {
        var system = RemotingTls.CreateSystem("pipeline", setup.Config, setup.Tls);
        try
        {
            var cluster = AkkaCluster.Get(system);
            if (setup.Bootstrap is not null) Console.WriteLine($"cluster bootstrap ({setup.Bootstrap.Discovery}), management at {await ClusterBootstrapSetup.StartAsync(system)}");
            else if (setup.Seeds.Count == 0) cluster.Join(cluster.SelfAddress); else cluster.JoinSeedNodes(setup.Seeds);
            Console.WriteLine($"node {cluster.SelfAddress} roles [{string.Join(",", setup.Roles)}], seeds [{string.Join(", ", setup.Seeds)}]");
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            await up.Task.WaitAsync(upWithin, ct);
            return system;
        }
        catch
        {
            await ShutdownAsync(system, setup.Settings);
            throw;
        }
    }

    /// <summary>Leaves the cluster (if still a member) and terminates the system, within the shutdown deadline.</summary>
    private static Task ShutdownAsync(ActorSystem system, PipelineSettings settings)
        => CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance).WaitAsync(settings.Timeouts.Shutdown).ContinueWith(_ => { });

    /// <summary>
    /// The learner node: runs the run singleton and exits with the run's result. A fresh run starts once enough generator
    /// nodes are Up; a run already under way in the run folder (this node restarted after a crash) resumes at once from
    /// its newest checkpoint, and the generator nodes rejoin by themselves.
    /// </summary>
    private static async Task<int> RunLearnerNodeAsync(NodeSetup setup, int wantGenerators, CancellationToken ct)
    {
        var (settings, runDir) = (setup.Settings, setup.RunDir);
        var resuming = RunMarker.Read(runDir) is { IsFinished: false };
        var system = await JoinAsync(setup, TimeSpan.FromSeconds(60), ct);
        ClusterNode? node = null;
        try
        {
            var cluster = AkkaCluster.Get(system);
            node = await ClusterRoles.StartAsync(system, settings, runDir, setup.Roles, TimeSpan.FromSeconds(120), Console.WriteLine);
            if (resuming)
                Console.WriteLine($"resuming the run under way in {runDir} from its newest checkpoint; generator nodes rejoin by themselves");
            else
            {
                var until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
                while (cluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(ClusterRoles.Generator)) < wantGenerators)
                {
                    // Interrupted before the run started: there is nothing to checkpoint.
                    if (ct.IsCancellationRequested) return ExitCodes.Interrupted;
                    if (DateTime.UtcNow > until) throw new TimeoutException($"fewer than {wantGenerators} generator node(s) Up within 120 s");
                    await Task.Delay(200, CancellationToken.None);
                }
                Console.WriteLine($"{wantGenerators} generator node(s) Up: starting the run in {runDir}");
                node.Begin();
            }
            await using var onCancel = ct.Register(() =>
            {
                Console.WriteLine("interrupted: the run writes a checkpoint and stops");
                node.Supervisor.Tell(Pipeline.Runtime.Protocol.Interrupt.Instance);
            });
            var result = await node.Completion!;
            Console.WriteLine($"run {result.Status}: step {result.Step}, policy version {result.PolicyVersion}" +
                (result.Final is { } f ? $", final accuracy {f.Overall.Accuracy:P1}" : "") + (result.Error is { } e ? $" ({e})" : ""));
            return result.Status switch
            {
                RunStatus.Completed => ExitCodes.Ok,
                RunStatus.Interrupted => ExitCodes.Interrupted,
                _ => ExitCodes.Failed,
            };
        }
        finally
        {
            await ShutdownAsync(system, settings);
            node?.Dispose();
        }
    }

    /// <summary>How one incarnation of a generator, annotator or critic node ended.</summary>
    private enum Ending { RunOver, Interrupted, Lost }

    /// <summary>
    /// A generator, annotator or critic node: works until the run is over (the learner node left on purpose, or the run
    /// folder's marker says finished) or Ctrl-C. When it loses the learner side instead (the learner node crashed and
    /// this side was downed, or this node was cut off and downed), it creates a new ActorSystem and rejoins as soon as
    /// the seed (or bootstrap) answers, within pipeline.cluster.rejoin-deadline of the loss, else it exits 1.
    /// </summary>
    private static async Task<int> RunWorkerNodeAsync(NodeSetup setup, TimeSpan rejoinDeadline, CancellationToken ct)
    {
        var (settings, runDir, roles) = (setup.Settings, setup.RunDir, setup.Roles);
        var totals = new NodeTotals();
        DateTime? lostAt = null;
        var lostWhy = "";
        while (true)
        {
            ActorSystem system;
            if (lostAt is null) system = await JoinAsync(setup, TimeSpan.FromSeconds(60), ct);
            else
            {
                var left = lostAt.Value + rejoinDeadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return GaveUp(lostWhy, rejoinDeadline, totals, roles);
                try
                {
                    system = await JoinAsync(setup, left, ct);
                }
                catch (TimeoutException)
                {
                    return GaveUp(lostWhy, rejoinDeadline, totals, roles);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    Console.WriteLine("interrupted while rejoining");
                    totals.Print(roles);
                    return ExitCodes.Interrupted;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The port of the old incarnation may not be free yet: try again shortly, within the deadline.
                    Console.Error.WriteLine($"warning: rejoining failed ({e.GetType().Name}: {e.Message}); trying again");
                    await Task.Delay(1000, CancellationToken.None);
                    continue;
                }
            }

            ClusterNode? node = null;
            try
            {
                var firstStart = lostAt is null;
                try
                {
                    var startWithin = firstStart ? TimeSpan.FromSeconds(120) : lostAt!.Value + rejoinDeadline - DateTime.UtcNow;
                    node = await ClusterRoles.StartAsync(system, settings, runDir, roles, startWithin > TimeSpan.Zero ? startWithin : TimeSpan.FromMilliseconds(1), Console.WriteLine);
                }
                catch (Exception e) when (!firstStart && e is not ConfigException)
                {
                    // Lost again while starting (downed, or the learner side not back yet): the same deadline still runs.
                    Console.Error.WriteLine($"warning: rejoined, but starting this node's actors failed ({e.GetType().Name}: {e.Message})");
                    if (DateTime.UtcNow > lostAt!.Value + rejoinDeadline) return GaveUp(lostWhy, rejoinDeadline, totals, roles);
                    continue;
                }
                if (!firstStart) Console.WriteLine($"rejoined the cluster {(DateTime.UtcNow - lostAt!.Value).TotalSeconds:0.0} s after losing it ({lostWhy})");
                lostAt = null;
                var (ending, why) = await WatchAsync(system, node, runDir, ct);
                totals.Add(node);
                switch (ending)
                {
                    case Ending.RunOver:
                        Console.WriteLine(why);
                        totals.Print(roles);
                        return ExitCodes.Ok;
                    case Ending.Interrupted:
                        totals.Print(roles);
                        return ExitCodes.Interrupted;
                }
                if (rejoinDeadline == TimeSpan.Zero)
                {
                    Console.Error.WriteLine($"error: this node lost its cluster ({why}) and pipeline.cluster.rejoin-deadline = 0 turns rejoining off: exiting");
                    totals.Print(roles);
                    return ExitCodes.Failed;
                }
                (lostAt, lostWhy) = (DateTime.UtcNow, why);
                Console.WriteLine($"lost the cluster ({why}): rejoining with a new actor system within {rejoinDeadline.TotalSeconds:0} s (pipeline.cluster.rejoin-deadline)");
            }
            finally
            {
                await ShutdownAsync(system, settings);
                node?.Dispose();
            }
        }
    }

    private static int GaveUp(string lostWhy, TimeSpan rejoinDeadline, NodeTotals totals, IReadOnlyList<string> roles)
    {
        Console.Error.WriteLine($"error: this node lost its cluster ({lostWhy}) and could not rejoin within pipeline.cluster.rejoin-deadline = " +
            $"{rejoinDeadline.TotalSeconds:0} s: no seed node answered (is the learner node running?)");
        totals.Print(roles);
        return ExitCodes.Failed;
    }

    /// <summary>Watches one incarnation of a worker node until the run is over, Ctrl-C, or the node lost the learner side.</summary>
    private static async Task<(Ending Ending, string Why)> WatchAsync(ActorSystem system, ClusterNode node, string runDir, CancellationToken ct)
    {
        var cluster = AkkaCluster.Get(system);
        var departures = new LearnerDepartures.State();
        system.ActorOf(LearnerDepartures.Props(departures), "learner-departures");
        var seenLearner = false;
        var firstGroupReported = false;
        DateTime? goneSince = null;
        while (true)
        {
            if (ct.IsCancellationRequested) return (Ending.Interrupted, "interrupted");
            if (RunMarker.HasFinished(runDir)) return (Ending.RunOver, "the run has finished (cluster-run.json): stopping");
            if (system.WhenTerminated.IsCompleted)
                return departures.LeftOnPurpose
                    ? (Ending.RunOver, $"the learner node left ({departures.Last}): stopping")
                    : (Ending.Lost, "this node was downed: the learner side became unreachable, or it could not reach this node");
            // Gone = leaving or removed. A learner that is only unreachable (busy, GC, a network blip) is still there: if
            // it really died the split-brain resolver downs this side within seconds (the run's side is the learner's).
            // The node's view of membership can flicker while gossip converges: gone means gone for 3 s in a row.
            var learnerUp = cluster.State.Members.Any(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(ClusterRoles.Learner));
            if (learnerUp) { seenLearner = true; goneSince = null; }
            else if (seenLearner && (goneSince ??= DateTime.UtcNow) < DateTime.UtcNow - TimeSpan.FromSeconds(3))
            {
                var members = cluster.State.Members.Where(m => m.HasRole(ClusterRoles.Learner)).Select(m => $"{m.Address} {m.Status}").ToList();
                return departures.LeftOnPurpose
                    ? (Ending.RunOver, $"the learner node left: stopping (learner members now: [{string.Join(", ", members)}])")
                    : (Ending.Lost, $"no learner node Up and none left gracefully (learner members now: [{string.Join(", ", members)}])");
            }
            if (!firstGroupReported && node.Groups > 0)
            {
                firstGroupReported = true;
                Console.WriteLine($"first group delivered at {DateTimeOffset.UtcNow:O}");
            }
            try { await Task.WhenAny(system.WhenTerminated, Task.Delay(firstGroupReported ? 500 : 50, ct)); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>A worker node's counters summed over its incarnations, printed when it exits.</summary>
    private sealed class NodeTotals
    {
        private long _groups, _waited, _sampledOld;
        private TimeSpan _waitedFor;
        private string? _criticStats;

        public void Add(ClusterNode node)
        {
            _groups += node.Groups;
            _waited += node.GeneratorCounter.Waited;
            _waitedFor += node.GeneratorCounter.WaitedFor;
            _sampledOld += node.GeneratorCounter.SampledOld;
            if (!node.CriticPool.IsNobody() && !node.System.WhenTerminated.IsCompleted && node.CriticPool.Ask<Pipeline.Runtime.Actors.SlowSourcePool.Stats>(
                    Pipeline.Runtime.Actors.SlowSourcePool.GetStats.Instance, TimeSpan.FromSeconds(2)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null).Result is { } stats)
                _criticStats = $"critic calls: {stats.Completed} completed, {stats.RejectedFull} rejected (queue full), {stats.ExpiredInQueue} expired in the queue, {stats.Cancelled} cancelled";
        }

        public void Print(IReadOnlyList<string> roles)
        {
            if (roles.Contains(ClusterRoles.Generator) || roles.Contains(ClusterRoles.Annotator)) Console.WriteLine($"delivered {_groups} groups");
            if (roles.Contains(ClusterRoles.Generator))
                Console.WriteLine($"credits held for newer weights: {_waited} ({_waitedFor.TotalSeconds:0.0} s in all); " +
                    $"groups sampled with weights older than their credit asked for: {_sampledOld}");
            else if (_criticStats is not null) Console.WriteLine(_criticStats);
        }
    }

    private static Address ParseSeed(string seed, string protocol)
    {
        var colon = seed.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], out var port))
            throw new ConfigException($"--seed expects host:port, got '{seed}'");
        return new Address(protocol, "pipeline", seed[..colon], port);
    }
}
