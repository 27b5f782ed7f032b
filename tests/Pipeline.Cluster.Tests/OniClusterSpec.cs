using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Hosting;
using Xunit.Abstractions;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// ONI in cluster mode: the critic labels a sample of the groups that two generator nodes produce, the reward-model
/// trainer on a node of its own (role rm-trainer) learns from the labels and publishes, and the intrinsic reward source on
/// each generator node loads the published model from the shared run folder and scores every rollout; ONI's counters
/// reach the learner node's metrics. Four ActorSystems on loopback, a real HTTP judge (the simulated one).
/// </summary>
public sealed class OniClusterSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-oni-cluster-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Generator_nodes_score_with_the_reward_model_the_rm_trainer_node_trains_on_critic_labels_of_their_groups()
    {
        await using var judge = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions
        {
            Urls = "http://127.0.0.1:0", Latency = TimeSpan.FromMilliseconds(20), Seed = 3,
        });
        var settings = ClusterNodes.SmokeSettings("grpo.steps=30", "checkpoint.every-steps=100", "oni.enabled=on", "rewards=execution,intrinsic",
            $"rewards.critic.base-url=\"{judge.BaseUrl}\"", "oni.labeller.sampling-rate=0.3", "oni.training.warmup-labels=8",
            "oni.training.publish-every-versions=2", "cluster.source-metrics-every=200ms");
        var runDir = Path.Combine(_runs, "run");
        await using var cluster = new ClusterNodes(settings, output.WriteLine);
        var learner = cluster.Create(ClusterRoles.Learner, ClusterRoles.Buffer);
        var rmTrainer = cluster.Create(ClusterRoles.RmTrainer);
        var generators = new[] { cluster.Create(ClusterRoles.Generator, ClusterRoles.Annotator), cluster.Create(ClusterRoles.Generator, ClusterRoles.Annotator) };
        await cluster.JoinAllAsync(TimeSpan.FromSeconds(20));
        var nodeA = await cluster.StartAsync(learner, runDir, ClusterRoles.Learner, ClusterRoles.Buffer);
        var trainerNode = await cluster.StartAsync(rmTrainer, runDir, ClusterRoles.RmTrainer);
        var started = await Task.WhenAll(generators.Select(g => cluster.StartAsync(g, runDir, ClusterRoles.Generator, ClusterRoles.Annotator)));
        // The labeller and the trainer live on the rm-trainer node only.
        await rmTrainer.ActorSelection("/" + string.Join("/", ClusterRoles.LabellerPath)).ResolveOne(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<Akka.Actor.ActorNotFoundException>(() => learner.ActorSelection("/" + string.Join("/", ClusterRoles.LabellerPath)).ResolveOne(TimeSpan.FromSeconds(1)));
        nodeA.Begin();
        var result = await cluster.CompletionOf(nodeA, TimeSpan.FromSeconds(150));

        var steps = nodeA.Reports.Where(r => r.Data.ContainsKey("policy/version")).ToList();
        var last = steps[^1].Data;
        var intrinsic = started.Select(n => n.RewardSourcesHere.OfType<IntrinsicRewardSource>().Single()).ToList();
        // The first publication can come in the run's last second (a slow machine); a generator node takes it from the topic
        // at once or from the run folder within 2 s, so give them a bounded moment.
        await ClusterNodes.WaitUntil(() => intrinsic.All(i => i.ModelVersion > 0), TimeSpan.FromSeconds(10),
            "every generator node's intrinsic source on a published reward model");
        output.WriteLine($"run {result.Status}: {steps.Count} steps; critic labels {last["critic/labels"]}, seen {last["critic/seen_frac"]:P1}; " +
            $"reward model v{last["rm/version"]}, published v{last["rm/published_version"]}; generator nodes' intrinsic sources at " +
            string.Join(", ", intrinsic.Select(i => "v" + i.ModelVersion)) + $"; judge answered {judge.Stats.Answered}");

        Assert.True(result.Status == RunStatus.Completed, $"run {result.Status}: {result.Error}");
        Assert.True(last["critic/labels"] > 8, $"only {last["critic/labels"]} labels");
        Assert.InRange(last["critic/seen_frac"], 0.01, 0.6);  // the critic saw a sample of the generator nodes' completions
        Assert.True(last["rm/published_version"] > 0, "the reward-model trainer never published");
        Assert.True(trainerNode.WeightsCounter.NewestVersion > 0, "the rm-trainer node never heard of a policy version (its trainer trains a few steps per version)");
        Assert.NotNull(OniSetup.Latest(runDir));
        // Each generator node loaded a published reward model from the run folder, without waiting for it: every rollout scored.
        Assert.All(intrinsic, i => Assert.True(i.ModelVersion > 0, "a generator node's intrinsic source never received a published reward model"));
        Assert.All(steps, r => Assert.Equal(0.0, r.Data["reward/intrinsic/invalid_frac"]));
        Assert.True(started.All(n => n.Groups > 0), "a generator node delivered nothing");
        Assert.True(cluster.WireTrouble.IsEmpty, "messages failed to cross:\n" + string.Join("\n", cluster.WireTrouble));
        Assert.True(TripwireSerializer.Hits.IsEmpty, "unbound message types tried to cross a node: " + string.Join(", ", TripwireSerializer.Hits.Distinct()));
    }

    [Theory]
    [InlineData("/data/runs/r1/reward-model/published/v000004", "/mnt/run", "/mnt/run/reward-model/published/v000004")]
    [InlineData("runs/r1/reward-model/published", "/srv/r", "/srv/r/reward-model/published")]
    [InlineData("/elsewhere/model", "/srv/r", "/elsewhere/model")]
    public void A_published_folder_is_found_under_this_node_s_run_folder(string published, string runDir, string expected)
        => Assert.Equal(expected, RewardModelBridge.Rebase(published, runDir));
}
