using Akka.Actor;
using Akka.Cluster.Routing;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka;
using Akka.Routing;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Learning;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Hosting;
using Pipeline.Runtime.Metrics;
using Pipeline.Runtime.Protocol;
using Pipeline.Core.Protocol;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// Cluster mode's wiring: given an ActorSystem that is (or is joining) a cluster member, starts that node's share of the
/// same actors local mode runs (<see cref="RunSupervisor"/>, <see cref="Generator"/>, <see cref="AnnotationStage"/>), each
/// built by <see cref="RoleBuilders"/> as in local mode: this class only places them (singletons, proxies, links, bridges).
/// This is what <c>pipeline node --role ... --seed host:port</c> calls.
/// <list type="bullet">
/// <item><b>learner</b>: a <see cref="RunHost"/> cluster singleton (<see cref="ClusterSingletonManager"/> at
/// <c>/user/run</c>, the host at <c>/user/run/host</c>) owning the <see cref="RunSupervisor"/> (<c>.../supervisor</c>)
/// with the learner, evaluator and metrics, and no local generators. More learner nodes are standbys: when the oldest
/// leaves it checkpoints (CoordinatedShutdown, before-cluster-shutdown) and the next resumes from the newest checkpoint.</item>
/// <item><b>buffer</b>: a <see cref="BufferHost"/> cluster singleton (<c>/user/buffer/host</c>) owning the replay buffer
/// and the prompt source. The learner reaches it through a <see cref="LearnerLink"/> as generator nodes do, so the two
/// singletons may share a node (<c>--role learner,buffer</c>, the usual placement) or not; when the buffer's node goes
/// the next buffer node takes over from the newest checkpoint.</item>
/// <item><b>generator,annotator</b> (any number of nodes): <c>pipeline.generation.generators</c> generators and one
/// annotation stage (slow sources through the node's slow-source pool), reaching the buffer and the learner node's
/// weights bridge through <see cref="LearnerLink"/>s that follow the singleton when it moves.</item>
/// <item><b>critic</b> (any number of nodes): a <see cref="SlowSourcePool"/> at <c>/user/critic-pool</c> running the slow
/// reward sources (the LLM critic) with its bounded queue. With <c>pipeline.cluster.slow-sources = critic-nodes</c>,
/// generator nodes send their slow-source calls to these pools through a cluster router (consistent hashing on the
/// request id, so a cancel reaches the pool that runs the call) instead of calling the critic themselves; a call nobody
/// answers within its deadline is an invalid, masked signal as in local mode.</item>
/// Every node gets a <see cref="WeightsBridge"/>: each policy version is announced over distributed pub-sub (topic
/// <see cref="WeightsTopic"/>) and pulled, in SHA-256-checked chunks, from the learner node's bridge into the generators'
/// EventStreams.
/// Every node shares the run folder (tokenizer, checkpoints, <c>cluster-run.json</c>, <c>accounting.json</c>).
/// <item><b>rm-trainer</b> (ONI, <c>pipeline.oni.enabled</c>): an <see cref="OniHost"/> cluster singleton
/// (<c>/user/oni/host</c>) with the critic labeller and the reward-model trainer. Each generator node sends a sample of its
/// groups to the labeller through a link and loads each published reward model from the shared run folder when the
/// <see cref="RewardModelBridge"/> announces it; ONI's counters reach the learner's metrics (<see cref="RemoteMetrics"/>).
/// Give the role to the learner node (<c>--role learner,buffer,rm-trainer</c>) or to nodes of its own.</item>
/// </list>
/// </summary>
public static class ClusterRoles
{
    public const string Learner = "learner";
    public const string Buffer = "buffer";
    public const string Generator = "generator";
    public const string Annotator = "annotator";
    public const string Critic = "critic";
    public const string RmTrainer = "rm-trainer";
    /// <summary>The ONI singleton's manager under <c>/user</c> (the <see cref="OniHost"/> is at <c>/user/oni/host</c>).</summary>
    public const string OniManagerName = "oni";
    /// <summary>Where the learner node takes in ONI's counters (<see cref="RemoteMetricsReceiver"/>), under <c>/user</c>.</summary>
    public const string OniMetricsName = "oni-metrics";
    /// <summary>Where the learner node takes in the reward sources' counters of annotator and critic nodes (<see cref="RemoteMetricsReceiver"/>), under <c>/user</c>.</summary>
    public const string SourceMetricsName = "source-metrics";
    /// <summary>Path elements, under an rm-trainer node's root, of ONI's critic labeller.</summary>
    public static readonly string[] LabellerPath = ["user", OniManagerName, SingletonName, OniHost.LabellerName];
    /// <summary>The slow-source pool of a critic node, under <c>/user</c>.</summary>
    public const string CriticPoolName = "critic-pool";
    /// <summary>The annotation stage of an annotator node, under <c>/user</c>.</summary>
    public const string AnnotationName = "annotation";
    /// <summary>Where generator nodes run their slow reward sources: <c>local</c> (their own pool) or <c>critic-nodes</c>.</summary>
    public const string SlowSourcesKey = "pipeline.cluster.slow-sources";
    /// <summary>How often annotator and critic nodes send their reward sources' counters to the learner node.</summary>
    public const string SourceMetricsEveryKey = "pipeline.cluster.source-metrics-every";
    /// <summary>How long a generator, annotator or critic node that lost its cluster keeps trying to rejoin before it exits.</summary>
    public const string RejoinDeadlineKey = "pipeline.cluster.rejoin-deadline";
    public const string WeightsTopic = "policy-weights";
    public const string SupervisorName = "run";
    public const string BridgeName = "weights-bridge";
    /// <summary>The singleton's name under its <see cref="ClusterSingletonManager"/> (<c>/user/run/host</c>, a <see cref="RunHost"/>).</summary>
    public const string SingletonName = "host";
    /// <summary>The buffer singleton's manager under <c>/user</c> (the <see cref="BufferHost"/> is at <c>/user/buffer/host</c>).</summary>
    public const string BufferManagerName = "buffer";

    /// <summary>Path elements, under a buffer node's root, of the replay buffer.</summary>
    public static readonly string[] BufferPath = ["user", BufferManagerName, SingletonName, BufferHost.BufferName];

    /// <summary>The node's ActorSystem config: its address and roles over the pipeline settings (cluster.conf layered in) and the wire binding.</summary>
    public static Config NodeConfig(PipelineSettings settings, string hostname, int port, IEnumerable<string> roles)
        => ConfigurationFactory.ParseString($$"""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp.hostname = "{{hostname}}"
            akka.remote.dot-netty.tcp.port = {{port}}
            akka.cluster.roles = [{{string.Join(", ", roles.Select(r => "\"" + r + "\""))}}]
            # Started with the system, not on first use: another node's mediator gossips (with its own serializer,
            # id 9) as soon as this node is Up, and a serializer injected later is missing for those first messages.
            akka.extensions = ["Akka.Cluster.Tools.PublishSubscribe.DistributedPubSubExtensionProvider, Akka.Cluster.Tools"]
            """)
            .WithFallback(settings.Hocon)
            .WithFallback(DistributedPubSub.DefaultConfig())
            .WithFallback(ClusterSingleton.DefaultConfig())
            .WithFallback(PipelineSerialization.AsConfig());

    /// <summary>Starts this node's actors for <paramref name="roles"/>. For generator roles it waits (up to <paramref name="deadline"/>) until this node is Up and the learner node's actors answer.</summary>
    public static async Task<ClusterNode> StartAsync(ActorSystem system, PipelineSettings settings, string runDir,
        IReadOnlyCollection<string> roles, TimeSpan deadline, Action<string>? status = null)
    {
        Validate(roles, settings);
        var hasLearner = roles.Contains(Learner);
        var hasGenerator = roles.Contains(Generator) || roles.Contains(Annotator);

        var node = new ClusterNode(system);
        try
        {
            var mediator = DistributedPubSub.Get(system).Mediator;
            if (roles.Contains(Critic)) StartCriticNode(node, system, settings, runDir, status);
            if (hasLearner) StartLearnerNode(node, system, settings, runDir, mediator, status);
            if (roles.Contains(Buffer)) StartBufferNode(node, system, settings, runDir, status);
            if (roles.Contains(RmTrainer)) StartRmTrainerNode(node, system, settings, runDir, mediator, status);
            if (hasGenerator) await StartGeneratorNodeAsync(node, system, settings, runDir, mediator, roles, deadline, status).ConfigureAwait(false);
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    /// <summary>Throws a <see cref="ConfigException"/> for a role set this version cannot place.</summary>
    public static void Validate(IReadOnlyCollection<string> roles, PipelineSettings settings)
    {
        var known = new[] { Learner, Buffer, Generator, Annotator, Critic, RmTrainer };
        if (roles.FirstOrDefault(r => !known.Contains(r)) is { } unknown)
            throw new ConfigException($"cluster mode: unknown role '{unknown}' (known in this version: {string.Join(", ", known)})");
        var hasGenerator = roles.Contains(Generator) || roles.Contains(Annotator);
        if (!roles.Contains(Learner) && !roles.Contains(Buffer) && !hasGenerator && !roles.Contains(Critic) && !roles.Contains(RmTrainer))
            throw new ConfigException($"cluster mode: no known role in [{string.Join(", ", roles)}] (known: {string.Join(", ", known)})");
        SlowSourcePlacement(settings);
    }

    /// <summary>The value of <see cref="SlowSourcesKey"/>: true for <c>critic-nodes</c>, false for <c>local</c> (the default).</summary>
    public static bool SlowSourcePlacement(PipelineSettings settings)
    {
        var value = settings.Hocon.HasPath(SlowSourcesKey) ? settings.Hocon.GetString(SlowSourcesKey) : "local";
        return value switch
        {
            "local" => false,
            "critic-nodes" => true,
            _ => throw new ConfigException($"{SlowSourcesKey} = '{value}': expected local (each generator node calls its slow reward sources itself) or critic-nodes (nodes with the role critic call them)"),
        };
    }

    /// <summary>A critic node: the run's slow reward sources behind a <see cref="SlowSourcePool"/> that generator nodes reach through their critic router.</summary>
    private static void StartCriticNode(ClusterNode node, ActorSystem system, PipelineSettings settings, string runDir, Action<string>? status)
    {
        var self = AkkaCluster.Get(system).SelfAddress;
        var task = node.Own(TaskCatalog.Create(settings, Path.Combine(runDir, "nodes", $"critic-{self.Host}-{self.Port}")));
        var sources = node.OwnSources(RewardSources.Build(settings, task, BuiltInRewardSources.Registry(), w => status?.Invoke("warning: " + w)));
        var slow = sources.Where(x => x.Source.Kind == RewardSourceKind.Slow).ToDictionary(x => x.Spec.Name, x => x.Source);
        if (slow.Count == 0)
            throw new ConfigException($"cluster mode: the role critic runs slow reward sources, and pipeline.rewards names none (sources: {string.Join(", ", sources.Select(x => x.Spec.Name))})");
        node.CriticPool = system.ActorOf(SlowSourcePool.Props(slow, settings.Rewards.SlowWorkers, settings.Rewards.SlowQueue), CriticPoolName);
        ReportSourceMetrics(system, settings, slow.Values);
        status?.Invoke($"critic node {self}: slow reward sources [{string.Join(", ", slow.Keys)}] at /user/{CriticPoolName} " +
            $"({settings.Rewards.SlowWorkers} concurrent calls per source, {settings.Rewards.SlowQueue} queued)");
    }

    /// <summary>Sends the counters of this node's reward sources to the learner node (<see cref="MetricsReporter"/>).</summary>
    private static void ReportSourceMetrics(ActorSystem system, PipelineSettings settings, IEnumerable<IRewardSource> sources)
    {
        var reporting = sources.OfType<IReportsMetrics>().ToList();
        if (reporting.Count == 0) return;
        var every = SourceMetricsEvery(settings);
        var link = system.ActorOf(LearnerLink.Props("source-metrics", ["user", SourceMetricsName], capacity: 16), "source-metrics-link");
        system.ActorOf(MetricsReporter.Props(reporting, link, every), "source-metrics-reporter");
    }

    /// <summary>The value of <see cref="SourceMetricsEveryKey"/>: how often nodes send their counters to the learner node's rows.</summary>
    public static TimeSpan SourceMetricsEvery(PipelineSettings settings)
    {
        var every = settings.Hocon.GetTimeSpan(SourceMetricsEveryKey);
        return every > TimeSpan.Zero ? every : throw new ConfigException($"{SourceMetricsEveryKey} = {every}: expected a positive duration, e.g. 1s");
    }

    /// <summary>The value of <see cref="RejoinDeadlineKey"/>; zero turns rejoining off (a downed node exits, for an orchestrator to restart).</summary>
    public static TimeSpan RejoinDeadline(PipelineSettings settings)
    {
        var deadline = settings.Hocon.GetTimeSpan(RejoinDeadlineKey);
        return deadline >= TimeSpan.Zero ? deadline : throw new ConfigException($"{RejoinDeadlineKey} = {deadline}: expected a duration of zero (no rejoining) or more, e.g. 5m");
    }

    /// <summary>Generator nodes' way to the critic nodes' pools: consistent hashing on the request id, so a cancel follows its call.</summary>
    private static IActorRef CriticRouter(ActorSystem system)
    {
        var paths = new[] { $"/user/{CriticPoolName}" };
        var group = new ConsistentHashingGroup(paths).WithHashMapping(message => message switch
        {
            SlowSourcePool.ScoreRequest request => request.RequestId,
            SlowSourcePool.CancelScore cancel => cancel.RequestId,
            _ => message,
        });
        return system.ActorOf(new ClusterRouterGroup(group, new ClusterRouterGroupSettings(10_000, paths, allowLocalRoutees: true, useRole: Critic)).Props(),
            "critic-router");
    }

    private static void StartLearnerNode(ClusterNode node, ActorSystem system, PipelineSettings settings, string runDir,
        IActorRef mediator, Action<string>? status)
    {
        Directory.CreateDirectory(runDir);
        TorchRuntime.Configure(settings.TorchThreads);
        File.WriteAllText(Path.Combine(runDir, LocalRun.ConfigSnapshotFile), LocalRun.ConfigSnapshot(settings));
        var task = node.RunTask = node.Own(TaskCatalog.Create(settings, runDir));
        // No reward sources here: the annotation stages of the annotator nodes score the groups (a node that is both
        // learner and annotator builds its stage's sources with that role), so the learner node loads no encoder or
        // reward model it would never call.
        var run = RunContext.Open(settings, runDir, task, reuseTokenizer: true);

        node.WeightsBridgeRef = system.ActorOf(WeightsBridge.Props(mediator, upstream: null, node.WeightsCounter, stallTimeout: settings.Timeouts.Credit), BridgeName);
        // ONI: the rm-trainer node reports its counters here, for the learner's metrics rows.
        var oniMetrics = new RemoteMetrics();
        if (settings.Oni.Enabled) system.ActorOf(RemoteMetricsReceiver.Props(oniMetrics), OniMetricsName);
        // The reward sources run on annotator (and critic) nodes: their counters arrive here, for the learner's metrics rows.
        var sourceMetrics = new ClusterSourceMetrics();
        system.ActorOf(RemoteMetricsReceiver.Props(sourceMetrics), SourceMetricsName);
        var completion = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        RunSupervisor.Inputs Inputs(Learner.ResumePoint? resume, TaskCompletionSource<RunResult> done) =>
            new(run.ResumingFrom(resume), task, done)
            {
                WarmStartEval = resume is null ? null : EvalReportFile.Read(Path.Combine(runDir, LocalRun.WarmStartEvalFile)),
                Observer = node.Observe,
                LocalGenerators = false,
                // The buffer is a singleton of its own (role buffer), here or on another node: the learner asks it for
                // batches through the node's buffer link, which follows it when it moves.
                Buffer = BufferLinkOf(node),
                // ONI's labeller and trainer are the rm-trainer role's singleton (OniHost); its counters arrive here.
                // The rows carry the reward sources' counters of the annotator and critic nodes.
                ExtraMetrics = settings.Oni.Enabled ? [sourceMetrics, oniMetrics] : [sourceMetrics],
            };
        // The run (RunHost -> RunSupervisor -> buffer, learner, prompts, ...) is a cluster singleton on the oldest learner
        // node; when that node leaves, Handover makes it checkpoint, and the next oldest learner node resumes from it.
        system.ActorOf(ClusterSingletonManager.Props(RunHost.Props(runDir, Inputs,
                // A learner node restarted after a crash has seen no version yet: the run's metrics rows remember the newest.
                () => Math.Max(node.WeightsCounter.NewestVersion, RunHost.NewestRecordedVersion(runDir)), completion),
            RunHost.Handover.Instance,
            ClusterSingletonManagerSettings.Create(system).WithRole(Learner).WithSingletonName(SingletonName)), SupervisorName);
        node.Supervisor = system.ActorOf(ClusterSingletonProxy.Props($"/user/{SupervisorName}",
            ClusterSingletonProxySettings.Create(system).WithRole(Learner).WithSingletonName(SingletonName)), SupervisorName + "-proxy");
        node.Completion = completion.Task;
        // A learner node that leaves (Ctrl-C, SIGTERM, a rolling update) checkpoints the run before the cluster hears of it
        // leaving, so the next oldest learner node resumes from the step it stopped at. The phase has its own deadline
        // (akka.coordinated-shutdown.phases.before-cluster-shutdown.timeout in hocon/cluster.conf).
        var shutdown = CoordinatedShutdown.Get(system);
        var handoverTimeout = shutdown.Timeout(CoordinatedShutdown.PhaseBeforeClusterShutdown);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeClusterShutdown, "pipeline-run-checkpoint", async () =>
        {
            IActorRef host;
            try
            {
                host = await system.ActorSelection($"/user/{SupervisorName}/{SingletonName}").ResolveOne(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ActorNotFoundException or TimeoutException)
            {
                return Done.Instance;  // the run singleton is not on this node
            }
            try
            {
                await host.GracefulStop(handoverTimeout - TimeSpan.FromMilliseconds(500), RunHost.Handover.Instance).ConfigureAwait(false);
            }
            catch (TaskCanceledException)
            {
                status?.Invoke("warning: the run did not checkpoint within the before-cluster-shutdown phase's timeout");
            }
            return Done.Instance;
        });
        status?.Invoke($"learner node {AkkaCluster.Get(system).SelfAddress}: run singleton (learner, evaluator, metrics) at /user/{SupervisorName}/{SingletonName}");
    }

    /// <summary>A buffer node: the replay buffer and the prompt source as a cluster singleton (<see cref="BufferHost"/>) on the oldest node with the role buffer.</summary>
    private static void StartBufferNode(ClusterNode node, ActorSystem system, PipelineSettings settings, string runDir, Action<string>? status)
    {
        Directory.CreateDirectory(runDir);
        var self = AkkaCluster.Get(system).SelfAddress;
        // The prompts come from the task: the learner node's copy when it is this node, else this node's own (same seed, same data).
        var task = node.RunTask ?? node.Own(TaskCatalog.Create(settings, Path.Combine(runDir, "nodes", $"buffer-{self.Host}-{self.Port}")));
        system.ActorOf(ClusterSingletonManager.Props(BufferHost.Props(runDir, settings, task), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(system).WithRole(Buffer).WithSingletonName(SingletonName)), BufferManagerName);
        status?.Invoke($"buffer node {self}: buffer singleton (replay buffer, prompts) at /user/{BufferManagerName}/{SingletonName}");
    }

    /// <summary>An rm-trainer node: ONI's critic labeller and reward-model trainer as a cluster singleton (<see cref="OniHost"/>) on the oldest node with the role.</summary>
    private static void StartRmTrainerNode(ClusterNode node, ActorSystem system, PipelineSettings settings, string runDir, IActorRef mediator,
        Action<string>? status)
    {
        var self = AkkaCluster.Get(system).SelfAddress;
        if (!settings.Oni.Enabled)
        {
            status?.Invoke($"rm-trainer node {self}: ONI is off (pipeline.oni.enabled = off), so this role has nothing to do");
            return;
        }
        Directory.CreateDirectory(runDir);
        var task = node.RunTask ?? node.Own(TaskCatalog.Create(settings, Path.Combine(runDir, "nodes", $"rm-trainer-{self.Host}-{self.Port}")));
        var registry = BuiltInRewardSources.Registry();
        // The trainer takes a few training steps per policy version: it hears of versions from this node's weights bridge.
        WeightsBridgeOf(node, system, settings, mediator);
        system.ActorOf(RewardModelBridge.Props(mediator, publisher: true, runDir), "reward-model-bridge");
        var metrics = system.ActorOf(LearnerLink.Props("oni-metrics", ["user", OniMetricsName], capacity: 16), "oni-metrics-link");
        system.ActorOf(ClusterSingletonManager.Props(
                OniHost.Props(runDir, resume => OniSetup.Build(settings, task, registry, runDir, resume, w => status?.Invoke("warning: " + w))!, metrics,
                    SourceMetricsEvery(settings)),
                PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system).WithRole(RmTrainer).WithSingletonName(SingletonName)),
            OniManagerName);
        status?.Invoke($"rm-trainer node {self}: ONI singleton (critic labeller '{settings.Oni.LabelSource}', reward-model trainer) at /user/{OniManagerName}/{SingletonName}");
    }

    /// <summary>
    /// The node's weights bridge (created on first use; the learner node creates its own first, with no upstream): it pulls
    /// each announced version from the learner node's bridge and publishes it on this node's EventStream.
    /// </summary>
    private static IActorRef WeightsBridgeOf(ClusterNode node, ActorSystem system, PipelineSettings settings, IActorRef mediator)
    {
        if (node.WeightsBridgeRef is { } bridge) return bridge;
        var upstream = system.ActorOf(LearnerLink.Props("weights", ["user", BridgeName]), "weights-link");
        return node.WeightsBridgeRef = system.ActorOf(WeightsBridge.Props(mediator, upstream, node.WeightsCounter, stallTimeout: settings.Timeouts.Credit), BridgeName);
    }

    /// <summary>The node's one link to the buffer singleton (created on first use), shared by its learner and generators.</summary>
    private static IActorRef BufferLinkOf(ClusterNode node)
        => node.BufferRef ??= node.System.ActorOf(LearnerLink.Props("buffer", BufferPath, node.BufferLink, announce: true, role: Buffer), "buffer-link");

    /// <summary>
    /// A generator and/or annotator node. With both roles the generators hand their groups to this node's annotation stage;
    /// with generator alone, to the annotator nodes' stages round robin (<see cref="AnnotatorRelay"/>); with annotator alone the
    /// node runs only an annotation stage at <c>/user/annotation</c> for the generator-only nodes.
    /// </summary>
    private static async Task StartGeneratorNodeAsync(ClusterNode node, ActorSystem system, PipelineSettings settings, string runDir,
        IActorRef mediator, IReadOnlyCollection<string> roles, TimeSpan deadline, Action<string>? status)
    {
        var (generating, annotating) = (roles.Contains(Generator), roles.Contains(Annotator));
        var until = DateTime.UtcNow + deadline;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var cluster = AkkaCluster.Get(system);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        await up.Task.WaitAsync(Remaining(until)).ConfigureAwait(false);
        var upAt = clock.Elapsed.TotalSeconds;
        var self = cluster.SelfAddress;
        var nodeName = $"{self.Host}-{self.Port}";
        var s = settings;

        // A local stand-in for the buffer singleton; it follows the singleton when it moves.
        var buffer = BufferLinkOf(node);
        IActorRef annotator;
        var annotation = "";
        if (annotating)
        {
            // Reward sources need the task's databases: each node builds its own copy (same seed, same data).
            var task = node.Own(TaskCatalog.Create(settings, Path.Combine(runDir, "nodes", nodeName)));
            var sources = node.OwnSources(RewardSources.Build(settings, task, OniRegistry(settings, runDir), w => status?.Invoke("warning: " + w)));
            IActorRef? labeller = null;
            if (settings.Oni.Enabled)
            {
                // ONI: this node's intrinsic sources take each reward model the rm-trainer node publishes; a sample of the
                // groups scored here goes to the critic labeller on the rm-trainer node.
                foreach (var (props, name) in RoleBuilders.RewardModelSubscribers(sources.Select(x => x.Source)))
                    system.ActorOf(props, name);
                if (!roles.Contains(RmTrainer)) system.ActorOf(RewardModelBridge.Props(mediator, publisher: false, runDir), "reward-model-bridge");
                labeller = system.ActorOf(LearnerLink.Props("critic-labeller", LabellerPath, role: RmTrainer), "labeller-link");
            }
            // Slow sources (the LLM critic) through this node's slow-source pool, with its bounded queue, as in local mode;
            // or, with pipeline.cluster.slow-sources = critic-nodes, through a router over the critic nodes' pools.
            var onCriticNodes = SlowSourcePlacement(s);
            var pooled = onCriticNodes
                ? SlowSourcePool.Wrap(sources, CriticRouter(system))
                : SlowSourcePool.Wrap(sources, s.Rewards.SlowWorkers, s.Rewards.SlowQueue, system.ActorOf);
            annotator = system.ActorOf(RoleBuilders.AnnotationStage(s, pooled, buffer, labeller), AnnotationName);
            // With the slow sources on critic nodes, this node's copies of them are idle: the critic nodes report those.
            ReportSourceMetrics(system, s, sources.Select(x => x.Source).Where(x => !onCriticNodes || x.Kind != RewardSourceKind.Slow));
            annotation = $"an annotation stage at /user/{AnnotationName}{(onCriticNodes ? " (slow reward sources on the critic nodes)" : "")} " +
                $"(task and reward sources {clock.Elapsed.TotalSeconds - upAt:0.0} s)";
        }
        else
        {
            // Generator only: groups go to the annotator nodes' stages. Wait (bounded) until one is Up.
            annotator = system.ActorOf(AnnotatorRelay.Props(buffer, node.AnnotatorCounter), "annotators");
            while (!cluster.State.Members.Any(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(Annotator)))
            {
                if (DateTime.UtcNow > until) throw new TimeoutException("cluster mode: no node with the role annotator was Up within the deadline");
                await Task.Delay(100).ConfigureAwait(false);
            }
            annotation = "groups to the annotator nodes (round robin)";
        }

        // Wait (bounded) until the buffer link found the buffer, so a run that starts now finds this node ready.
        while (node.BufferLink.Attached == 0)
        {
            if (DateTime.UtcNow > until) throw new TimeoutException("cluster mode: the buffer did not answer within the deadline");
            await Task.Delay(100).ConfigureAwait(false);
        }
        if (!generating)
        {
            status?.Invoke($"annotator node {self}: {annotation}; buffer through a link (ready after {clock.Elapsed.TotalSeconds:0.0} s)");
            return;
        }

        // The tokenizer is trained once, by the learner node, into the run folder every node shares in this version.
        while (!RunTokenizer.Exists(runDir))
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"cluster mode: {RunTokenizer.Folder(runDir)} was not written by the learner node within the deadline");
            await Task.Delay(100).ConfigureAwait(false);
        }
        var run = RunContext.Join(settings, runDir);
        TorchRuntime.Configure(settings.TorchThreads);
        // Generators ask the node's bridge for the newest weights: it answers locally, or fetches them in chunks.
        var bridge = WeightsBridgeOf(node, system, s, mediator);
        for (var i = 0; i < s.Generation.Generators; i++)
        {
            // The slot is unique across the cluster (the node's port, then the generator's index on it): no two share a seed.
            var id = $"generator-{nodeName}-{i}";
            node.Generators.Add(system.ActorOf(RoleBuilders.Generator(run, id, self.Port.GetValueOrDefault() * 16L + i, buffer, annotator, bridge,
                node.GeneratorCounter), id));
        }
        status?.Invoke($"generator node {self}: {s.Generation.Generators} generator(s), {annotation}; buffer, prompts and weights through links " +
            $"(Up after {upAt:0.0} s, ready after {clock.Elapsed.TotalSeconds:0.0} s)");
    }

    /// <summary>The built-in reward sources, plus ONI's intrinsic source when ONI is on (it starts from the newest reward model in the run folder, if any).</summary>
    private static RewardSourceRegistry OniRegistry(PipelineSettings settings, string runDir)
    {
        var registry = BuiltInRewardSources.Registry();
        if (settings.Oni.Enabled) OniSetup.RegisterIntrinsic(registry, settings, runDir, resume: true);
        return registry;
    }

    private static TimeSpan Remaining(DateTime until)
    {
        var left = until - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }
}

/// <summary>One node's share of a cluster run: what it started and owns.</summary>
public sealed class ClusterNode : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly List<IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)>> _sources = [];
    private readonly List<MetricsReport> _reports = [];

    internal ClusterNode(ActorSystem system) => System = system;

    public ActorSystem System { get; }
    /// <summary>The learner node's proxy to the run supervisor singleton; Nobody elsewhere.</summary>
    public IActorRef Supervisor { get; internal set; } = ActorRefs.Nobody;
    /// <summary>The run's result, on the learner node; null elsewhere.</summary>
    public Task<RunResult>? Completion { get; internal set; }
    /// <summary>This node's link to the buffer: annotated groups it forwarded, (re-)attachments.</summary>
    public LearnerLink.Counter BufferLink { get; } = new();
    /// <summary>The link itself (<see cref="ClusterRoles"/> creates it on first use).</summary>
    internal IActorRef? BufferRef { get; set; }
    /// <summary>The node's weights bridge (<see cref="ClusterRoles"/> creates it on first use).</summary>
    internal IActorRef? WeightsBridgeRef { get; set; }
    /// <summary>The task the learner node built in the run folder, reused by a buffer singleton on the same node.</summary>
    internal IPipelineTask? RunTask { get; set; }
    /// <summary>Groups a generator-only node sent to the annotator nodes.</summary>
    public LearnerLink.Counter AnnotatorCounter { get; } = new();
    /// <summary>This node's generators: credits held for newer weights, groups sampled with older ones.</summary>
    public Runtime.Actors.Generator.Counter GeneratorCounter { get; } = new();
    /// <summary>Groups this node delivered: annotated groups sent to the buffer, or (generator only) groups sent to annotator nodes.</summary>
    public long Groups => BufferLink.Groups + AnnotatorCounter.Groups;
    /// <summary>Weight versions this node's bridge took from, or gave to, the pub-sub topic.</summary>
    public WeightsBridge.Counter WeightsCounter { get; } = new();
    public List<IActorRef> Generators { get; } = [];
    /// <summary>The reward sources this node built (its annotation stage's, or the run's on a learner node).</summary>
    public IReadOnlyList<IRewardSource> RewardSourcesHere => _sources.SelectMany(x => x.Select(y => y.Source)).ToList();
    /// <summary>A critic node's slow-source pool; Nobody elsewhere.</summary>
    public IActorRef CriticPool { get; internal set; } = ActorRefs.Nobody;
    /// <summary>Metrics rows seen on the learner node.</summary>
    public IReadOnlyList<MetricsReport> Reports { get { lock (_reports) return _reports.ToList(); } }

    /// <summary>Starts the run (warm-start, GRPO, evaluations) on the learner node.</summary>
    public void Begin()
    {
        if (Supervisor.IsNobody()) throw new InvalidOperationException("only the learner node starts the run");
        Supervisor.Tell(StartRun.Instance);
    }

    internal void Observe(MetricsReport report) { lock (_reports) _reports.Add(report); }

    internal T Own<T>(T disposable) where T : IDisposable { _owned.Add(disposable); return disposable; }

    internal IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> OwnSources(IReadOnlyList<(IRewardSource Source, RewardSourceSpec Spec)> sources)
    {
        _sources.Add(sources);
        return sources;
    }

    /// <summary>Releases the reward sources and the task; call after the ActorSystem has terminated.</summary>
    public void Dispose()
    {
        foreach (var s in _sources) RewardSources.Dispose(s);
        _sources.Clear();
        foreach (var d in _owned) d.Dispose();
        _owned.Clear();
    }
}
