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
        var isLearner = roles.Contains(ClusterRoles.Learner);
        ClusterRoles.Validate(roles, settings);

        var bootstrap = BootstrapSettings.From(settings.Hocon) is var b && (parse.GetValue(Bootstrap) || b.Enabled) ? b with { Enabled = true } : null;
        if (bootstrap is not null && seeds.Count > 0) throw new ConfigException("--seed and --bootstrap (pipeline.cluster.bootstrap.enabled) exclude each other");
        var nodeConfig = ClusterRoles.NodeConfig(settings, host, port, roles);
        RemotingTls.RefuseInsecureBinding(nodeConfig, tls, parse.GetValue(Insecure));
        if (!tls.Enabled && !RemotingTls.IsLoopback(host))
            Console.Error.WriteLine($"warning: --insecure: remoting on {host} without TLS; any host that reaches port {port} can join this cluster");
        var system = RemotingTls.CreateSystem("pipeline", bootstrap is null ? nodeConfig : ClusterBootstrapSetup.Apply(nodeConfig, bootstrap), tls);
        ClusterNode? node = null;
        try
        {
            var cluster = AkkaCluster.Get(system);
            if (bootstrap is not null) Console.WriteLine($"cluster bootstrap ({bootstrap.Discovery}), management at {await ClusterBootstrapSetup.StartAsync(system)}");
            else if (seeds.Count == 0) cluster.Join(cluster.SelfAddress); else cluster.JoinSeedNodes(seeds);
            Console.WriteLine($"node {cluster.SelfAddress} roles [{string.Join(",", roles)}], seeds [{string.Join(", ", seeds)}]");
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            await up.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);

            node = await ClusterRoles.StartAsync(system, settings, runDir, roles, TimeSpan.FromSeconds(120), Console.WriteLine);
            if (isLearner)
            {
                var want = parse.GetValue(WaitGenerators);
                var until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
                while (cluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(ClusterRoles.Generator)) < want)
                {
                    if (DateTime.UtcNow > until) throw new TimeoutException($"fewer than {want} generator node(s) Up within 120 s");
                    await Task.Delay(200, ct);
                }
                Console.WriteLine($"{want} generator node(s) Up: starting the run in {runDir}");
                node.Begin();
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

            // Generator or critic node: work until the learner node has gone (the run is over) or Ctrl-C.
            var seenLearner = false;
            var firstGroupReported = false;
            DateTime? goneSince = null;
            while (!ct.IsCancellationRequested && !system.WhenTerminated.IsCompleted)
            {
                // Gone = leaving or removed. A learner that is only unreachable (busy, GC, a network blip) is still there: if
                // it really died the split-brain resolver downs it within seconds and it is removed.
                // The node's view of membership can flicker while gossip converges: gone means gone for 3 s in a row.
                var learnerUp = cluster.State.Members.Any(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(ClusterRoles.Learner));
                if (learnerUp) { seenLearner = true; goneSince = null; }
                else if (seenLearner && (goneSince ??= DateTime.UtcNow) < DateTime.UtcNow - TimeSpan.FromSeconds(3))
                {
                    var left = cluster.State.Members.Where(m => m.HasRole(ClusterRoles.Learner)).Select(m => $"{m.Address} {m.Status}").ToList();
                    Console.WriteLine($"the learner node left: stopping (learner members now: [{string.Join(", ", left)}])");
                    break;
                }
                if (!firstGroupReported && node.Groups > 0)
                {
                    firstGroupReported = true;
                    Console.WriteLine($"first group delivered at {DateTimeOffset.UtcNow:O}");
                }
                try { await Task.Delay(firstGroupReported ? 500 : 50, ct); } catch (OperationCanceledException) { }
            }
            if (roles.Contains(ClusterRoles.Generator) || roles.Contains(ClusterRoles.Annotator)) Console.WriteLine($"delivered {node.Groups} groups");
            if (roles.Contains(ClusterRoles.Generator))
            {
                var g = node.GeneratorCounter;
                Console.WriteLine($"credits held for newer weights: {g.Waited} ({g.WaitedFor.TotalSeconds:0.0} s in all); " +
                    $"groups sampled with weights older than their credit asked for: {g.SampledOld}");
            }
            else if (!node.CriticPool.IsNobody() && await node.CriticPool.Ask<Pipeline.Runtime.Actors.SlowSourcePool.Stats>(
                         Pipeline.Runtime.Actors.SlowSourcePool.GetStats.Instance, TimeSpan.FromSeconds(2)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null) is { } stats)
                Console.WriteLine($"critic calls: {stats.Completed} completed, {stats.RejectedFull} rejected (queue full), {stats.ExpiredInQueue} expired in the queue, {stats.Cancelled} cancelled");
            return ct.IsCancellationRequested ? ExitCodes.Interrupted : ExitCodes.Ok;
        }
        finally
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance)
                .WaitAsync(settings.Timeouts.Shutdown).ContinueWith(_ => { });
            node?.Dispose();
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
