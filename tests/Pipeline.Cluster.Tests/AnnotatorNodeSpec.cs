using System.Diagnostics;
using Akka.Actor;
using Pipeline.Cluster.Roles;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Generators and annotators on separate nodes: a generator-only node sends its groups round robin to two annotator
/// nodes, which score them and hand them to the buffer. When one annotator node is cut off (throttler blackhole) the
/// generator node stops sending to it as soon as it is unreachable; once the split-brain resolver has downed and removed
/// it, the credits of the groups it may still have held are released as "annotator's node lost" (their prompts
/// re-issued) rather than waiting for the credit timeout; training goes on through the other annotator node. Four
/// ActorSystems on loopback in this process.
/// </summary>
public sealed class AnnotatorNodeSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-annotator-node-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Generator_only_nodes_use_the_annotator_nodes_and_training_survives_losing_one()
    {
        var clock = Stopwatch.StartNew();
        var settings = ClusterNodes.SmokeSettings("grpo.steps=1000", "checkpoint.every-steps=1000", "timeouts.credit=120s");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var learner = cluster.Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var annotator1 = cluster.Create(ClusterRoles.Annotator);
        var annotator2 = cluster.Create(ClusterRoles.Annotator);
        var generator = cluster.Create(ClusterRoles.Generator);
        await cluster.JoinAllAsync(TimeSpan.FromSeconds(20));
        var learnerNode = await cluster.StartAsync(learner, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var a1 = await cluster.StartAsync(annotator1, runDir, ClusterRoles.Annotator);
        var a2 = await cluster.StartAsync(annotator2, runDir, ClusterRoles.Annotator);
        var g = await cluster.StartAsync(generator, runDir, ClusterRoles.Generator);
        Assert.Empty(a1.Generators);
        learnerNode.Begin();

        await cluster.WaitUntilLogging(() => ClusterNodes.Versions(learnerNode).Count >= 4 && a1.Groups > 0 && a2.Groups > 0,
            TimeSpan.FromSeconds(90), "4 GRPO steps with both annotator nodes scoring");
        // The generator node's groups went to the annotator nodes, which delivered them to the buffer.
        Assert.Equal(0, g.BufferLink.Groups);
        Assert.True(g.AnnotatorCounter.Groups > 0);
        var a1Address = ClusterNodes.AddressOf(annotator1);
        foreach (var other in new[] { learner, annotator2, generator }) await ClusterNodes.BlackholeAsync(other, annotator1);
        var cut = clock.Elapsed;
        var (stepsAtCut, a2AtCut, sentAtCut) = (ClusterNodes.Versions(learnerNode).Count, a2.Groups, g.AnnotatorCounter.Groups);
        output.WriteLine($"blackholed annotator node {a1Address} at {cut.TotalSeconds:0.0}s after {stepsAtCut} steps; delivered so far: A1 {a1.Groups}, A2 {a2AtCut}; sent by G {sentAtCut}");

        await ClusterNodes.WaitUntil(() => !AkkaCluster.Get(learner).State.Members.Any(m => m.Address == a1Address),
            TimeSpan.FromSeconds(40), "the cut-off annotator node downed and removed");
        await cluster.WaitUntilLogging(() => ClusterNodes.Versions(learnerNode).Count >= stepsAtCut + 4, TimeSpan.FromSeconds(60), "4 more GRPO steps with one annotator node");
        learnerNode.Supervisor.Tell(Interrupt.Instance);
        var result = await cluster.CompletionOf(learnerNode, TimeSpan.FromSeconds(60));
        // Quiesce: stop the generator (it releases the credits it holds) and let the groups still being scored land. Then
        // no credit may be outstanding: one lost with the cut-off annotator would wait for the (here 120 s) credit timeout.
        foreach (var gen in g.Generators) generator.Stop(gen);
        var buffer = await learner.ActorSelection(ClusterNodes.BufferPath).ResolveOne(TimeSpan.FromSeconds(5));
        BufferLedger ledger = null!;
        await ClusterNodes.WaitUntil(() =>
        {
            ledger = buffer.Ask<BufferLedger>(ReplayBuffer.GetLedger.Instance, TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            return ledger.CreditsOutstanding == 0;
        }, TimeSpan.FromSeconds(15), "no credit outstanding once the generator stopped");
        output.WriteLine($"run {result.Status} at step {result.Step}; A2 delivered {a2.Groups - a2AtCut} groups after the cut; ledger: granted {ledger.CreditsGranted}, " +
            $"accepted {ledger.GroupsAccepted}, served {ledger.GroupsServed}, stale {ledger.GroupsDroppedStale}, late {ledger.GroupsDroppedLate}, " +
            $"expired {ledger.CreditsExpired}, released {ledger.CreditsReleased} [{string.Join(", ", ledger.CreditsReleasedBy.Select(kv => $"{kv.Key}: {kv.Value}"))}], outstanding {ledger.CreditsOutstanding}");

        Assert.True(result.Status == RunStatus.Interrupted, $"run {result.Status}: {result.Error}");
        Assert.True(result.Step >= stepsAtCut + 4, $"step {result.Step}");
        Assert.True(a2.Groups > a2AtCut, "the remaining annotator node delivered nothing after the cut");
        Assert.True(ledger.Balanced, "the buffer's books do not balance");
        // Groups lost with the cut-off annotator were released when it was removed ("annotator's node lost"), never expired;
        // the only other releases are the stopped generator's own credits.
        Assert.Equal(0, ledger.CreditsExpired);
        Assert.All(ledger.CreditsReleasedBy.Keys, reason => Assert.True(reason == "annotator's node lost" || reason.StartsWith("generator ", StringComparison.Ordinal), reason));
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
        Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
    }
}
