using System.Diagnostics;
using Akka.Actor;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Failure behaviour of cluster mode with real remoting on loopback (ActorSystems in this process):
/// a generator node cut off by the throttler transport adapter is downed by the split-brain resolver (keep-majority) and
/// training goes on; the learner node leaving hands the run singleton over, and the successor resumes from the
/// checkpoint written on the way out without the policy version going backwards.
/// </summary>
public sealed class NodeLossSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-nodeloss-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    private static PipelineSettings Settings(params string[] extra) => ClusterNodes.SmokeSettings(extra);

    [Fact]
    public async Task A_blackholed_generator_node_is_downed_and_training_continues_with_every_credit_accounted_for()
    {
        var clock = Stopwatch.StartNew();
        var settings = Settings("grpo.steps=1000", "checkpoint.every-steps=1000");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var (a, nodeA, generatorSystems, started) = await cluster.StartLearnerAndGeneratorsAsync(runDir, generators: 2, TimeSpan.FromSeconds(20));
        var (b, c) = (generatorSystems[0], generatorSystems[1]);
        var (nodeB, nodeC) = (started[0], started[1]);
        nodeA.Begin();

        await cluster.WaitUntilLogging(() => ClusterNodes.Versions(nodeA).Count >= 4 && nodeC.Groups >= 1, TimeSpan.FromSeconds(90), "4 GRPO steps with C contributing");
        var cAddress = ClusterNodes.AddressOf(c);
        await ClusterNodes.BlackholeAsync(a, c);
        await ClusterNodes.BlackholeAsync(b, c);
        var cut = clock.Elapsed;
        var (bBefore, stepsBefore) = (nodeB.Groups, ClusterNodes.Versions(nodeA).Count);
        output.WriteLine($"blackholed C ({cAddress}) at {cut.TotalSeconds:0.0}s after {stepsBefore} steps; B delivered {bBefore}, C {nodeC.Groups}");

        await ClusterNodes.WaitUntil(() => !AkkaCluster.Get(a).State.Members.Any(m => m.Address == cAddress),
            TimeSpan.FromSeconds(40), "C downed and removed by the majority");
        output.WriteLine($"C removed {(clock.Elapsed - cut).TotalSeconds:0.0}s after the cut");
        // The buffer hears of C's generator's death (remote DeathWatch on the downed node) and settles its credit.
        var buffer = await a.ActorSelection(ClusterNodes.BufferPath)
            .ResolveOne(TimeSpan.FromSeconds(5));
        BufferLedger live = null!;
        await ClusterNodes.WaitUntil(() =>
        {
            live = buffer.Ask<BufferLedger>(ReplayBuffer.GetLedger.Instance, TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            return !live.CreditHolders.Any(h => h.StartsWith(cAddress.ToString(), StringComparison.Ordinal));
        }, TimeSpan.FromSeconds(15), "no credit held by C's generator");
        output.WriteLine($"C's credits settled {(clock.Elapsed - cut).TotalSeconds:0.0}s after the cut; released so far " +
            $"[{string.Join(", ", live.CreditsReleasedBy.Select(kv => $"{kv.Key}: {kv.Value}"))}], expired {live.CreditsExpired}");

        // Training goes on with B alone, then the run is interrupted (a long run; the steps after the cut are what count).
        var stepsAtSettle = ClusterNodes.Versions(nodeA).Count;
        var bAtSettle = nodeB.Groups;
        await cluster.WaitUntilLogging(() => ClusterNodes.Versions(nodeA).Count >= stepsAtSettle + 4, TimeSpan.FromSeconds(60), "4 more GRPO steps without C");
        nodeA.Supervisor.Tell(Pipeline.Runtime.Protocol.Interrupt.Instance);
        var result = await cluster.CompletionOf(nodeA, TimeSpan.FromSeconds(60));
        output.WriteLine($"run {result.Status} at {clock.Elapsed.TotalSeconds:0.0}s: step {result.Step}; B delivered {nodeB.Groups - bBefore} groups after the cut");
        Assert.True(result.Status == RunStatus.Interrupted, $"run {result.Status}: {result.Error}");
        Assert.True(result.Step >= stepsAtSettle + 4, $"step {result.Step}");
        Assert.True(nodeB.Groups > bAtSettle, "node B delivered nothing after C was removed");
        var versions = ClusterNodes.Versions(nodeA);
        Assert.Equal(versions.OrderBy(v => v), versions);

        // The buffer (a singleton of its own) outlives the interrupted run and B keeps delivering to it until the nodes stop;
        // its ledger file, rewritten every second while it changes, soon covers every trained step.
        BufferLedger ledger = null!;
        await ClusterNodes.WaitUntil(() => (ledger = BufferLedger.Read(Path.Combine(runDir, RunSupervisor.AccountingFile))!) is { } l && l.GroupsServed >= result.Step * 2,
            TimeSpan.FromSeconds(20), "the ledger file covering every trained step");
        output.WriteLine($"ledger: granted {ledger.CreditsGranted}, accepted {ledger.GroupsAccepted}, served {ledger.GroupsServed}, stale {ledger.GroupsDroppedStale}, " +
            $"late {ledger.GroupsDroppedLate}, expired {ledger.CreditsExpired}, released {ledger.CreditsReleased} " +
            $"[{string.Join(", ", ledger.CreditsReleasedBy.Select(kv => $"{kv.Key}: {kv.Value}"))}], outstanding {ledger.CreditsOutstanding}, in buffer {ledger.GroupsInBuffer}");
        Assert.True(ledger.Balanced, "the buffer's books do not balance");
        Assert.InRange(ledger.GroupsServed, result.Step * 2, (result.Step + 1) * 2);  // trained, plus at most the batch in flight at the interrupt
        Assert.Equal(ledger.GroupsServed * 4, ledger.RolloutsServed);
        // C's last credit (if it held one when cut off) ended as "its node was lost", never as silently outstanding.
        Assert.DoesNotContain(ledger.CreditHolders, h => h.StartsWith(cAddress.ToString(), StringComparison.Ordinal));
        Assert.Equal(ledger.CreditsReleasedBy.GetValueOrDefault("generator's node lost"), live.CreditsReleasedBy.GetValueOrDefault("generator's node lost"));
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
        Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
    }

    [Fact]
    public async Task When_the_learner_node_leaves_the_singleton_moves_and_resumes_from_its_checkpoint_with_versions_going_forward()
    {
        var clock = Stopwatch.StartNew();
        var settings = Settings("grpo.steps=14", "checkpoint.every-steps=2");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var a1 = cluster.Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var a2 = cluster.Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var b = cluster.Create(ClusterRoles.Generator, ClusterRoles.Annotator);
        var c = cluster.Create(ClusterRoles.Generator, ClusterRoles.Annotator);
        await cluster.JoinAllAsync(TimeSpan.FromSeconds(20));

        var node1 = await cluster.StartAsync(a1, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var node2 = await cluster.StartAsync(a2, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var generators = await Task.WhenAll(cluster.StartAsync(b, runDir, ClusterRoles.Generator, ClusterRoles.Annotator),
            cluster.StartAsync(c, runDir, ClusterRoles.Generator, ClusterRoles.Annotator));
        node1.Begin();

        await cluster.WaitUntilLogging(() => ClusterNodes.Versions(node1).Count >= 5, TimeSpan.FromSeconds(90), "5 GRPO steps on the first learner node");
        var leave = clock.Elapsed;
        await Akka.Actor.CoordinatedShutdown.Get(a1).Run(Akka.Actor.CoordinatedShutdown.ClusterLeavingReason.Instance).WaitAsync(TimeSpan.FromSeconds(60));
        var first = await node1.Completion!.WaitAsync(TimeSpan.FromSeconds(5));
        var before = ClusterNodes.Versions(node1);
        output.WriteLine($"first learner node left at {leave.TotalSeconds:0.0}s: {first.Status} at step {first.Step}, versions up to {before.Max()}");
        Assert.Equal(RunStatus.Interrupted, first.Status);

        var result = await cluster.CompletionOf(node2, TimeSpan.FromSeconds(150));
        var after = ClusterNodes.Versions(node2);
        output.WriteLine($"second learner node: run {result.Status} at {clock.Elapsed.TotalSeconds:0.0}s, step {result.Step}, version {result.PolicyVersion}; " +
            $"versions {string.Join(",", after)}; links re-attached B {generators[0].BufferLink.Attached}x, C {generators[1].BufferLink.Attached}x");
        Assert.True(result.Status == RunStatus.Completed, $"run {result.Status}: {result.Error}");
        Assert.Equal(14, result.Step);
        Assert.NotEmpty(after);
        // Resumed from the checkpoint written on the way out (step = the first node's last step), not from scratch.
        Assert.Equal(14 - first.Step, after.Count);
        Assert.True(after.Min() > before.Max(), $"policy version went backwards: {before.Max()} then {after.Min()}");
        Assert.Equal(after.OrderBy(v => v), after);
        Assert.All(generators, g => Assert.True(g.BufferLink.Attached >= 2, "a generator node's buffer link did not follow the singleton"));
        Assert.Equal("finished", RunMarker.Read(runDir)!.Status);
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
    }
}
