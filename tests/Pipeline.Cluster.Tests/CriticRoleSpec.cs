using Akka.Actor;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Actors;
using Xunit.Abstractions;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// The critic role: with <c>pipeline.cluster.slow-sources = critic-nodes</c> a generator node sends its LLM-critic calls to a
/// node started with the role critic (a real HTTP judge, the simulated one, behind it) and runs no slow-source pool itself.
/// Three ActorSystems on loopback: learner,buffer / generator,annotator / critic.
/// </summary>
public sealed class CriticRoleSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-critic-role-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    private static PipelineSettings Settings(params string[] extra) => ClusterNodes.SmokeSettings(["checkpoint.every-steps=100", .. extra]);

    [Fact]
    public async Task Generator_nodes_score_with_the_critic_on_a_critic_node_and_run_no_critic_calls_of_their_own()
    {
        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0", Seed = 5 });
        var settings = Settings("grpo.steps=8", "rewards=execution,critic", "rewards.sources.critic.required=on",
            "rewards.sources.critic.deadline=20s", $"rewards.critic.base-url=\"{judge.BaseUrl}\"", "rewards.critic.cache-entries=0",
            "cluster.slow-sources=critic-nodes", "cluster.source-metrics-every=100ms");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var a = cluster.Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var b = cluster.Create(ClusterRoles.Generator, ClusterRoles.Annotator);
        var c = cluster.Create(ClusterRoles.Critic);
        await cluster.JoinAllAsync(TimeSpan.FromSeconds(20));

        var nodeC = await cluster.StartAsync(c, runDir, ClusterRoles.Critic);
        var nodeA = await cluster.StartAsync(a, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var nodeB = await cluster.StartAsync(b, runDir, ClusterRoles.Generator, ClusterRoles.Annotator);
        nodeA.Begin();
        var result = await cluster.CompletionOf(nodeA, TimeSpan.FromSeconds(120));

        var pool = await nodeC.CriticPool.Ask<SlowSourcePool.Stats>(SlowSourcePool.GetStats.Instance, TimeSpan.FromSeconds(5));
        var steps = ClusterNodes.Versions(nodeA).Count;
        var rows = nodeA.Reports.Where(r => r.Data.ContainsKey("policy/version")).ToList();
        var rollouts = rows.Sum(r => r.Data["rollouts/count"]);
        var invalid = rows.Sum(r => r.Data["reward/critic/invalid_count"]);
        output.WriteLine($"run {result.Status}: {steps} steps, {rollouts} rollouts, {invalid} with an invalid critic signal; critic node's pool " +
            $"completed {pool.Completed} calls (rejected {pool.RejectedFull}, expired {pool.ExpiredInQueue}); judge answered {judge.Stats.Answered} of {judge.Stats.ChatRequests}");

        output.WriteLine("critic requests in the learner's rows: " + string.Join(" ", rows.Select(r => r.Data.GetValueOrDefault("critic/critic/requests"))));
        Assert.True(result.Status == RunStatus.Completed, $"run {result.Status}: {result.Error}");
        Assert.Equal(8, result.Step);
        Assert.True(nodeB.Groups >= 8 * 2, $"the generator node delivered {nodeB.Groups} groups");
        // The critic node ran the calls: its pool completed a call for most groups the generator node delivered (the last
        // few may still be finishing when it is asked)...
        Assert.True(pool.Completed >= nodeB.Groups / 2, $"critic pool completed {pool.Completed} calls for {nodeB.Groups} groups");
        Assert.True(judge.Stats.Answered > 0, "the judge answered nothing");
        // ...and the generator node has no slow-source pool of its own to call the judge with.
        await Assert.ThrowsAsync<ActorNotFoundException>(() => b.ActorSelection("/user/slow-rewards").ResolveOne(TimeSpan.FromSeconds(2)));
        Assert.True(nodeC.Groups == 0 && nodeC.Supervisor.IsNobody(), "the critic node runs neither generators nor the run");
        // The learner's rows count the critic node's calls (its snapshot at most about a second old), not the learner
        // node's idle client's.
        Assert.True(rows.Max(r => r.Data.GetValueOrDefault("critic/critic/requests")) > 0, "the learner's rows count no critic call");
        Assert.InRange(rows.Max(r => r.Data.GetValueOrDefault("critic/critic/requests")), 0, judge.Stats.ChatRequests);
        // Trained groups carried critic scores that crossed two nodes and back (a few may be masked, never silently 0).
        Assert.True(invalid < rollouts / 2, $"{invalid} of {rollouts} rollouts had no valid critic signal");
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
        Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
    }

    [Fact]
    public async Task A_critic_node_without_a_slow_source_and_an_unknown_placement_are_config_errors_that_name_the_problem()
    {
        var settings = Settings("rewards=execution");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var c = cluster.Create(ClusterRoles.Critic);
        var noCritic = await Assert.ThrowsAsync<ConfigException>(() => cluster.StartAsync(c, Path.Combine(_runs, "run"), ClusterRoles.Critic));
        Assert.Contains("role critic", noCritic.Message);
        Assert.Contains("execution", noCritic.Message);  // what the settings do name

        var placement = Assert.Throws<ConfigException>(() => ClusterRoles.Validate([ClusterRoles.Critic], Settings("cluster.slow-sources=everywhere")));
        Assert.Contains(ClusterRoles.SlowSourcesKey, placement.Message);
        Assert.Contains("everywhere", placement.Message);

        ClusterRoles.Validate([ClusterRoles.Critic], Settings());  // a node may be a critic and nothing else
        ClusterRoles.Validate([ClusterRoles.Generator, ClusterRoles.Annotator, ClusterRoles.Critic], Settings());
    }
}
