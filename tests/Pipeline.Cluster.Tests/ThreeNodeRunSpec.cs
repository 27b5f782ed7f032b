using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Cluster mode, first slice: the local-mode actors placed on three ActorSystems on loopback in this process.
/// Node A (learner,buffer) holds the run supervisor with buffer, learner, prompts, evaluator and metrics; nodes B and C
/// (generator,annotator) each run a generator and an annotation stage. Weights travel over distributed pub-sub.
/// Every node binds the pipeline serializer and a tripwire in place of the JSON fallback, so a message type without
/// an explicit binding that crosses a node fails the test (the cross-node form of serialize-messages = on).
/// </summary>
public sealed class ThreeNodeRunSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-cluster-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    /// <summary>Collects log events that mean a message could not cross (serialization failures, oversized frames).</summary>
    private sealed class WireTrouble : ReceiveActor
    {
        public WireTrouble(ConcurrentQueue<string> sink)
        {
            Receive<LogEvent>(e =>
            {
                var text = e.Message?.ToString() + " " + e.Cause;
                if (text.Contains("serializ", StringComparison.OrdinalIgnoreCase) || text.Contains("Oversized", StringComparison.OrdinalIgnoreCase))
                    sink.Enqueue($"{e.LogSource}: {text}");
            });
        }
    }

    [Fact]
    public async Task Three_nodes_on_loopback_train_end_to_end_with_both_generator_nodes_contributing()
    {
        var clock = Stopwatch.StartNew();
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", RepoRoot.Combine("hocon", "smoke.conf"),
            ["warm-start.max-epochs=1", "grpo.steps=16", "grpo.batch-groups=4", "generation.group-size=4",
             "generation.generators=1", "eval.limit=20", "checkpoint.every-steps=100"]);
        var runDir = Path.Combine(_runs, "run");
        var trouble = new ConcurrentQueue<string>();
        var droppedUnknown = PipelineMessageSerializer.DroppedUnknown;
        var droppedCorrupt = PipelineMessageSerializer.DroppedCorrupt;
        TripwireSerializer.Hits.Clear();

        ActorSystem Create(params string[] roles)
        {
            var config = Akka.Configuration.ConfigurationFactory.ParseString(TripwireSerializer.Config)
                .WithFallback(ClusterRoles.NodeConfig(settings, "127.0.0.1", 0, roles));
            var system = ActorSystem.Create("pipeline", config);
            var watcher = system.ActorOf(Props.Create(() => new WireTrouble(trouble)), "wire-trouble");
            system.EventStream.Subscribe(watcher, typeof(Error));
            system.EventStream.Subscribe(watcher, typeof(Warning));
            return system;
        }

        var systems = new List<ActorSystem>();
        var nodes = new List<ClusterNode>();
        try
        {
            var a = Create(ClusterRoles.Learner, ClusterRoles.Buffer);
            systems.Add(a);
            var b = Create(ClusterRoles.Generator, ClusterRoles.Annotator);
            systems.Add(b);
            var c = Create(ClusterRoles.Generator, ClusterRoles.Annotator);
            systems.Add(c);

            var seed = AkkaCluster.Get(a).SelfAddress;
            AkkaCluster.Get(a).Join(seed);
            AkkaCluster.Get(b).JoinSeedNodes([seed]);
            AkkaCluster.Get(c).JoinSeedNodes([seed]);
            await WaitUntil(() => systems.All(s => AkkaCluster.Get(s).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3),
                TimeSpan.FromSeconds(15), "all three members Up");
            output.WriteLine($"cluster of 3 Up after {clock.Elapsed.TotalSeconds:0.0}s");

            var nodeA = await ClusterRoles.StartAsync(a, settings, runDir, [ClusterRoles.Learner, ClusterRoles.Buffer], TimeSpan.FromSeconds(30), output.WriteLine);
            nodes.Add(nodeA);
            var started = await Task.WhenAll(
                ClusterRoles.StartAsync(b, settings, runDir, [ClusterRoles.Generator, ClusterRoles.Annotator], TimeSpan.FromSeconds(30), output.WriteLine),
                ClusterRoles.StartAsync(c, settings, runDir, [ClusterRoles.Generator, ClusterRoles.Annotator], TimeSpan.FromSeconds(30), output.WriteLine));
            nodes.AddRange(started);
            var (nodeB, nodeC) = (started[0], started[1]);
            output.WriteLine($"roles started after {clock.Elapsed.TotalSeconds:0.0}s");

            nodeA.Begin();
            var result = await nodeA.Completion!.WaitAsync(TimeSpan.FromSeconds(90));
            output.WriteLine($"run {result.Status} after {clock.Elapsed.TotalSeconds:0.0}s: step {result.Step}, policy version {result.PolicyVersion}, " +
                $"groups from B {nodeB.Groups}, from C {nodeC.Groups}");

            output.WriteLine($"weights: A published {nodeA.WeightsCounter.ToTopic} versions; B took {nodeB.WeightsCounter.FromTopic} (newest v{nodeB.WeightsCounter.NewestVersion}), " +
                $"C took {nodeC.WeightsCounter.FromTopic} (newest v{nodeC.WeightsCounter.NewestVersion}); failed transfers B {nodeB.WeightsCounter.FailedTransfers}, C {nodeC.WeightsCounter.FailedTransfers}");
            Assert.True(result.Status == RunStatus.Completed, $"run {result.Status}: {result.Error}");
            Assert.Equal(16, result.Step);
            Assert.True(result.PolicyVersion >= 16, $"policy version {result.PolicyVersion}");
            Assert.NotNull(result.WarmStart);
            Assert.NotNull(result.Final);
            Assert.True(nodeB.Groups >= 1, "node B delivered no group");
            Assert.True(nodeC.Groups >= 1, "node C delivered no group");
            output.WriteLine($"weights: A published {nodeA.WeightsCounter.ToTopic} versions to the topic; B took {nodeB.WeightsCounter.FromTopic}, C took {nodeC.WeightsCounter.FromTopic} from it");
            Assert.True(nodeA.WeightsCounter.ToTopic >= 2, $"learner node published {nodeA.WeightsCounter.ToTopic} versions");
            Assert.True(nodeB.WeightsCounter.FromTopic >= 1, "node B received no weights over distributed pub-sub");
            Assert.True(nodeC.WeightsCounter.FromTopic >= 1, "node C received no weights over distributed pub-sub");
            var versions = nodeA.Reports.Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Data["policy/version"]).ToList();
            Assert.Equal(16, versions.Count);
            Assert.Equal(versions.OrderBy(v => v), versions);
            Assert.Equal(droppedUnknown, PipelineMessageSerializer.DroppedUnknown);
            Assert.Equal(droppedCorrupt, PipelineMessageSerializer.DroppedCorrupt);
            Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
            Assert.True(trouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", trouble));
        }
        finally
        {
            foreach (var s in Enumerable.Reverse(systems))
            {
                try { await s.Terminate().WaitAsync(TimeSpan.FromSeconds(10)); }
                catch (TimeoutException) { output.WriteLine($"{s.Name} did not terminate within 10 s"); }
            }
            foreach (var n in nodes) n.Dispose();
            output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
        }
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan deadline, string what)
    {
        var until = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"not reached within {deadline.TotalSeconds:0}s: {what}");
            await Task.Delay(50);
        }
    }
}
