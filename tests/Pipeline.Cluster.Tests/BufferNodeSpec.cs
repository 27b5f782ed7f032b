using System.Diagnostics;
using Akka.Actor;
using Pipeline.Cluster.Roles;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// The buffer and the learner as two cluster singletons on different nodes: the learner asks the buffer node for its
/// batches over remoting, and when the buffer's node is cut off (throttler blackhole) the split-brain resolver downs it,
/// the buffer singleton starts on the next buffer node from the run's newest checkpoint, and the learner, the generator
/// node and training carry on to the end. Four ActorSystems on loopback in this process.
/// </summary>
public sealed class BufferNodeSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-buffer-node-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task With_the_buffer_on_its_own_node_training_survives_that_node_s_loss_and_finishes()
    {
        var clock = Stopwatch.StartNew();
        var settings = ClusterNodes.SmokeSettings("grpo.steps=14", "checkpoint.every-steps=2");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var learner = cluster.Create(ClusterRoles.Learner);
        var bufferA = cluster.Create(ClusterRoles.Buffer);
        var bufferB = cluster.Create(ClusterRoles.Buffer);
        var generator = cluster.Create(ClusterRoles.Generator, ClusterRoles.Annotator);
        await cluster.JoinAllAsync(TimeSpan.FromSeconds(20));

        var learnerNode = await cluster.StartAsync(learner, runDir, ClusterRoles.Learner);
        await cluster.StartAsync(bufferA, runDir, ClusterRoles.Buffer);
        await cluster.StartAsync(bufferB, runDir, ClusterRoles.Buffer);
        var generatorNode = await cluster.StartAsync(generator, runDir, ClusterRoles.Generator, ClusterRoles.Annotator);
        // The buffer singleton runs on the oldest buffer node (whichever was Up first), and nothing of it on the learner node.
        var (buffer1, buffer2, _) = await ResolveAsync(bufferA, TimeSpan.FromSeconds(3)) is { } onA
            ? (bufferA, bufferB, onA)
            : (bufferB, bufferA, await ResolveAsync(bufferB, TimeSpan.FromSeconds(10)) ?? throw new Xunit.Sdk.XunitException("no buffer singleton on either buffer node"));
        await Assert.ThrowsAsync<ActorNotFoundException>(() => learner.ActorSelection(ClusterNodes.BufferPath).ResolveOne(TimeSpan.FromSeconds(1)));
        learnerNode.Begin();

        await cluster.WaitUntilLogging(() => ClusterNodes.Versions(learnerNode).Count >= 5, TimeSpan.FromSeconds(90), "5 GRPO steps with the buffer on its own node");
        var before = ClusterNodes.Versions(learnerNode);
        var buffer1Address = ClusterNodes.AddressOf(buffer1);
        foreach (var other in new[] { learner, buffer2, generator }) await ClusterNodes.BlackholeAsync(other, buffer1);
        var cut = clock.Elapsed;
        output.WriteLine($"blackholed the buffer node {buffer1Address} at {cut.TotalSeconds:0.0}s after {before.Count} steps (version {before.Max()})");

        await ClusterNodes.WaitUntil(() => !AkkaCluster.Get(learner).State.Members.Any(m => m.Address == buffer1Address),
            TimeSpan.FromSeconds(40), "the first buffer node downed and removed");
        var second = await ResolveAsync(buffer2, TimeSpan.FromSeconds(30)) ?? throw new Xunit.Sdk.XunitException("the buffer singleton did not start on the second buffer node");
        output.WriteLine($"buffer singleton on {ClusterNodes.AddressOf(buffer2)} {(clock.Elapsed - cut).TotalSeconds:0.0}s after the cut");

        var result = await cluster.CompletionOf(learnerNode, TimeSpan.FromSeconds(150));
        var versions = ClusterNodes.Versions(learnerNode);
        output.WriteLine($"run {result.Status} at {clock.Elapsed.TotalSeconds:0.0}s: step {result.Step}, versions {string.Join(",", versions)}; " +
            $"buffer links attached: learner {learnerNode.BufferLink.Attached}x, generator {generatorNode.BufferLink.Attached}x");
        Assert.True(result.Status == RunStatus.Completed, $"run {result.Status}: {result.Error}");
        Assert.Equal(14, result.Step);
        // One learner throughout: every step trained once, versions strictly rising across the buffer's move.
        Assert.Equal(14, versions.Count);
        Assert.Equal(versions.Distinct().OrderBy(v => v), versions);
        Assert.True(learnerNode.BufferLink.Attached >= 2, "the learner's buffer link did not follow the singleton");
        Assert.True(generatorNode.BufferLink.Attached >= 2, "the generator node's buffer link did not follow the singleton");

        // The second buffer's books: it stops when the run is finished and writes them; every credit and group accounted for.
        var ledger = await WaitForFinalLedgerAsync(runDir, buffer2);
        output.WriteLine($"second buffer's ledger: granted {ledger.CreditsGranted}, accepted {ledger.GroupsAccepted}, served {ledger.GroupsServed}, " +
            $"stale {ledger.GroupsDroppedStale}, late {ledger.GroupsDroppedLate}, released {ledger.CreditsReleased}, expired {ledger.CreditsExpired}, outstanding {ledger.CreditsOutstanding}");
        Assert.True(ledger.Balanced, "the second buffer's books do not balance");
        // It served every step after the cut but the one whose batch may already have been on its way from the first buffer.
        Assert.True(ledger.GroupsServed >= (14 - before.Count - 1) * 2, $"the second buffer served {ledger.GroupsServed} groups for {14 - before.Count - 1} or more steps");
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
        Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
    }

    /// <summary>The buffer singleton on <paramref name="system"/> once it is there, or null after <paramref name="deadline"/>.</summary>
    private static async Task<IActorRef?> ResolveAsync(ActorSystem system, TimeSpan deadline)
    {
        var until = DateTime.UtcNow + deadline;
        while (true)
        {
            try
            {
                return await system.ActorSelection(ClusterNodes.BufferPath).ResolveOne(TimeSpan.FromSeconds(1));
            }
            catch (ActorNotFoundException)
            {
                if (DateTime.UtcNow > until) return null;
                await Task.Delay(200);
            }
        }
    }

    /// <summary>The buffer stops within a second or two of the run's end (the marker says finished) and writes its final ledger.</summary>
    private static async Task<BufferLedger> WaitForFinalLedgerAsync(string runDir, ActorSystem bufferSystem)
    {
        await ClusterNodes.WaitUntil(() =>
        {
            try
            {
                bufferSystem.ActorSelection(ClusterNodes.BufferPath).ResolveOne(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
                return false;
            }
            catch (ActorNotFoundException)
            {
                return true;
            }
        }, TimeSpan.FromSeconds(15), "the buffer stopped after the run finished");
        return ClusterNodes.Ledger(runDir);
    }
}
