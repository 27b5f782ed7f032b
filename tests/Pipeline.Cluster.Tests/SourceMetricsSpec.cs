using Akka.Actor;
using Akka.TestKit.Xunit2;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// The reward sources' counters in cluster mode: the annotator node calls the critic, and the learner's metrics rows show
/// those calls (they used to show the learner node's own, idle, critic client: 0 requests whatever the cluster did).
/// </summary>
public sealed class SourceMetricsSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-source-metrics-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    /// <summary>The deploy/ layout in one process: learner,buffer / generator / annotator, the critic a simulated judge over HTTP.
    /// Snapshots come every 250 ms: the judge takes 150 ms per answer, so the run lasts long enough for several to arrive.</summary>
    [Fact]
    public async Task The_learners_rows_count_the_critic_calls_the_annotator_node_made()
    {
        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0", Seed = 7, Latency = TimeSpan.FromMilliseconds(150) });
        var settings = ClusterNodes.SmokeSettings("checkpoint.every-steps=100", "grpo.steps=30", "rewards=execution,critic",
            "rewards.sources.critic.required=on", "rewards.sources.critic.deadline=20s", $"rewards.critic.base-url=\"{judge.BaseUrl}\"",
            "rewards.critic.cache-entries=0", "cluster.source-metrics-every=250ms");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var a = cluster.Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var g = cluster.Create(ClusterRoles.Generator);
        var n = cluster.Create(ClusterRoles.Annotator);
        await cluster.JoinAllAsync(TimeSpan.FromSeconds(20));

        var nodeA = await cluster.StartAsync(a, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var nodeN = await cluster.StartAsync(n, runDir, ClusterRoles.Annotator);
        var nodeG = await cluster.StartAsync(g, runDir, ClusterRoles.Generator);
        nodeA.Begin();
        var result = await cluster.CompletionOf(nodeA, TimeSpan.FromSeconds(120));

        var rows = nodeA.Reports.Where(r => r.Data.ContainsKey("policy/version")).ToList();
        var requests = rows.Max(r => r.Data.GetValueOrDefault("critic/critic/requests"));
        var successes = rows.Max(r => r.Data.GetValueOrDefault("critic/critic/successes"));
        output.WriteLine($"run {result.Status}: {rows.Count} rows; learner rows: critic requests {requests}, successes {successes}; " +
            $"judge answered {judge.Stats.Answered} of {judge.Stats.ChatRequests}; annotator node delivered {nodeN.Groups} groups");

        foreach (var r in rows) output.WriteLine($"step {r.Step}: nodes {r.Data.GetValueOrDefault("cluster/source_metric_nodes", -1)}, requests {r.Data.GetValueOrDefault("critic/critic/requests", -1)}");
        Assert.True(result.Status == RunStatus.Completed, $"run {result.Status}: {result.Error}");
        Assert.True(nodeG.AnnotatorCounter.Groups > 0 && nodeN.Groups > 0, "groups did not go generator node -> annotator node -> buffer");
        // The rows count the annotator node's calls (a snapshot at most about a second old, so at most what the judge saw)...
        Assert.True(successes > 0, "the learner's rows count no successful critic call");
        Assert.InRange(requests, successes, judge.Stats.ChatRequests);
        Assert.All(rows.Where(r => r.Data.ContainsKey("cluster/source_metric_nodes")), r => Assert.InRange(r.Data["cluster/source_metric_nodes"], 0, 1));
        Assert.Equal(1, rows[^1].Data["cluster/source_metric_nodes"]);
        // Several snapshots arrived while the run went on: the count grew from row to row.
        Assert.True(rows.Select(r => r.Data.GetValueOrDefault("critic/critic/requests")).Distinct().Count() >= 3, "the rows saw fewer than 2 snapshots");
        // ...and the critic's signals in the trained batches were valid: the counters and the rewards tell the same story.
        Assert.True(rows.Sum(r => r.Data["reward/critic/invalid_count"]) < rows.Sum(r => r.Data["rollouts/count"]) / 2);
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
    }
}

/// <summary>How <see cref="ClusterSourceMetrics"/> combines the nodes' snapshots.</summary>
public sealed class ClusterSourceMetricsSpec : TestKit
{
    [Fact]
    public void Counters_are_summed_flags_and_versions_take_the_largest_rates_the_mean_of_the_nodes_that_have_one()
    {
        var metrics = new ClusterSourceMetrics();
        metrics.Set(CreateTestProbe().Ref, new Dictionary<string, double>
        {
            ["critic/critic/requests"] = 10, ["critic/critic/failures/timeout"] = 2, ["critic/critic/breaker_open"] = 0,
            ["similarity/similarity/cache_hit_rate"] = 0.5, ["intrinsic/model_version"] = 3, ["intrinsic/known_frac"] = double.NaN,
        });
        metrics.Set(CreateTestProbe().Ref, new Dictionary<string, double>
        {
            ["critic/critic/requests"] = 5, ["critic/critic/failures/timeout"] = 1, ["critic/critic/breaker_open"] = 1,
            ["similarity/similarity/cache_hit_rate"] = 0.7, ["intrinsic/model_version"] = 4, ["intrinsic/known_frac"] = 0.25,
        });
        var data = new Dictionary<string, double>();
        metrics.AddMetrics(data);

        Assert.Equal(2, data["cluster/source_metric_nodes"]);
        Assert.Equal(15, data["critic/critic/requests"]);
        Assert.Equal(3, data["critic/critic/failures/timeout"]);
        Assert.Equal(1, data["critic/critic/breaker_open"]);
        Assert.Equal(0.6, data["similarity/similarity/cache_hit_rate"], 12);
        Assert.Equal(4, data["intrinsic/model_version"]);
        Assert.Equal(0.25, data["intrinsic/known_frac"]);
        Assert.True(double.IsNaN(ClusterSourceMetrics.Combine("intrinsic/raw_mean", [double.NaN, double.NaN])));
    }

    [Fact]
    public void A_critic_flagged_untrusted_on_any_node_is_untrusted_and_canary_accuracy_is_the_mean_of_the_nodes()
    {
        Assert.Equal(1, ClusterSourceMetrics.Combine("critic/critic/untrusted", [0, 1, 0]));
        Assert.Equal(0.75, ClusterSourceMetrics.Combine("critic/critic/canary_accuracy", [0.5, 1.0, double.NaN]), 12);
        Assert.Equal(7, ClusterSourceMetrics.Combine("critic/critic/canary_probes", [3, 4]));
    }

    [Fact]
    public void A_reporters_newer_snapshot_replaces_its_older_one_and_a_restarted_nodes_counters_add_to_its_old_ones()
    {
        var metrics = new ClusterSourceMetrics();
        var first = CreateTestProbe().Ref;
        metrics.Set(first, new Dictionary<string, double> { ["critic/critic/requests"] = 4 });
        metrics.Set(first, new Dictionary<string, double> { ["critic/critic/requests"] = 9 });
        var data = new Dictionary<string, double>();
        metrics.AddMetrics(data);
        Assert.Equal(9, data["critic/critic/requests"]);

        // The same node restarted: a new reporter (a new incarnation) counting from 0 again.
        metrics.Set(CreateTestProbe().Ref, new Dictionary<string, double> { ["critic/critic/requests"] = 2 });
        metrics.AddMetrics(data);
        Assert.Equal(11, data["critic/critic/requests"]);
        Assert.Equal(2, data["cluster/source_metric_nodes"]);
    }

    [Fact]
    public void At_most_MaxReporters_are_remembered_the_longest_unheard_goes_first()
    {
        var metrics = new ClusterSourceMetrics();
        var first = CreateTestProbe().Ref;
        metrics.Set(first, new Dictionary<string, double> { ["critic/critic/requests"] = 1000 });
        for (var i = 0; i < ClusterSourceMetrics.MaxReporters; i++)
            metrics.Set(new ActorRefWithId(i), new Dictionary<string, double> { ["critic/critic/requests"] = 1 });
        var data = new Dictionary<string, double>();
        metrics.AddMetrics(data);
        Assert.Equal(ClusterSourceMetrics.MaxReporters, data["cluster/source_metric_nodes"]);
        Assert.Equal(ClusterSourceMetrics.MaxReporters, data["critic/critic/requests"]);
    }

    /// <summary>A distinct reporter identity without an actor behind it (the receiver only uses the sender as a key).</summary>
    private sealed class ActorRefWithId(int id) : MinimalActorRef
    {
        public override ActorPath Path { get; } = new RootActorPath(new Address("akka", "test")) / "reporter" / id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        public override IActorRefProvider Provider => throw new NotSupportedException();
    }
}
