using System.Diagnostics;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Cluster mode, first slice: the local-mode actors placed on three ActorSystems on loopback in this process.
/// Node A (learner,buffer) holds the run supervisor with buffer, learner, prompts, evaluator and metrics; nodes B and C
/// (generator,annotator) each run a generator and an annotation stage. Weights travel over distributed pub-sub.
/// Every node binds the pipeline serializer and a tripwire in place of the JSON fallback (<see cref="ClusterNodes"/>), so a
/// message type without an explicit binding that crosses a node fails the test (the cross-node form of serialize-messages = on).
/// </summary>
public sealed class ThreeNodeRunSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-cluster-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Three_nodes_on_loopback_train_end_to_end_with_both_generator_nodes_contributing()
    {
        var clock = Stopwatch.StartNew();
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", RepoRoot.Combine("hocon", "smoke.conf"),
            ["warm-start.max-epochs=1", "grpo.steps=16", "grpo.batch-groups=4", "generation.group-size=4",
             "generation.generators=1", "eval.limit=20", "checkpoint.every-steps=100"]);
        var runDir = Path.Combine(_runs, "run");
        var droppedUnknown = PipelineMessageSerializer.DroppedUnknown;
        var droppedCorrupt = PipelineMessageSerializer.DroppedCorrupt;
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var (_, nodeA, _, started) = await cluster.StartLearnerAndGeneratorsAsync(runDir, generators: 2, TimeSpan.FromSeconds(15));
        var (nodeB, nodeC) = (started[0], started[1]);
        output.WriteLine($"cluster of 3 Up and roles started after {clock.Elapsed.TotalSeconds:0.0}s");

        nodeA.Begin();
        var result = await cluster.CompletionOf(nodeA, TimeSpan.FromSeconds(90));
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
        Assert.True(nodeA.WeightsCounter.ToTopic >= 2, $"learner node published {nodeA.WeightsCounter.ToTopic} versions");
        Assert.True(nodeB.WeightsCounter.FromTopic >= 1, "node B received no weights over distributed pub-sub");
        Assert.True(nodeC.WeightsCounter.FromTopic >= 1, "node C received no weights over distributed pub-sub");
        var versions = nodeA.Reports.Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Data["policy/version"]).ToList();
        Assert.Equal(16, versions.Count);
        Assert.Equal(versions.OrderBy(v => v), versions);
        Assert.Equal(droppedUnknown, PipelineMessageSerializer.DroppedUnknown);
        Assert.Equal(droppedCorrupt, PipelineMessageSerializer.DroppedCorrupt);
        Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
        output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
    }
}
