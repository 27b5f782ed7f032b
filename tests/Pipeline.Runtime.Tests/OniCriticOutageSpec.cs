using System.Collections.Immutable;
using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Oni.RewardModels;
using Pipeline.Runtime.Actors.Oni;
using Xunit.Abstractions;

namespace Pipeline.Runtime.Tests;

/// <summary>The critic goes down mid-run: the reward model keeps scoring every rollout; labels resume when the critic returns.</summary>
public class OniCriticOutageSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output), IDisposable
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(5);
    private readonly string _dir = Directory.CreateTempSubdirectory("oni-outage-").FullName;

    void IDisposable.Dispose()
    {
        Shutdown();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A critic that can be switched off: while down it throws, as a dead HTTP endpoint would.</summary>
    private sealed class SwitchableCritic : IRewardSource
    {
        public volatile bool Down;
        public string Name => "critic";
        public RewardSourceKind Kind => RewardSourceKind.Slow;
        public (double Min, double Max) Range => (0, 1);

        public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
            => Down
                ? Task.FromException<IReadOnlyList<RewardSignal>>(new HttpRequestException("connection refused"))
                : Task.FromResult<IReadOnlyList<RewardSignal>>(
                    [RewardSignal.Ok("critic", group.Rollouts[0].CompletionText.Contains("FROM") ? 1.0 : 0.0, TimeSpan.Zero)]);
    }

    private static RolloutGroup Group(int n)
    {
        var prompt = new Prompt("p" + n, "question " + n, null, ImmutableDictionary<string, string>.Empty);
        string[] texts = [$"SELECT c{n} FROM t", $"garbage {n}"];
        return new RolloutGroup("g" + n, prompt, 0,
            [.. texts.Select((t, i) => new Rollout($"g{n}-{i}", "g" + n, prompt.Id, 0, [1], [2], [-1f], t, false))], TimeSpan.Zero);
    }

    [Fact]
    public async Task The_reward_model_keeps_scoring_through_a_critic_outage_and_labels_resume_when_it_returns()
    {
        var critic = new SwitchableCritic();
        var stats = new OniStats();
        var options = new RewardModelOptions { Variant = RewardModelVariant.Retrieval, DefaultReward = 0.5 };
        var trainerModel = RewardModelFactory.Create(options);
        using var intrinsic = new IntrinsicRewardSource("intrinsic", RewardModelFactory.Create(options), dir => RewardModelFactory.Load(dir), beta: 0);
        var trainer = Sys.ActorOf(RewardModelTrainer.Props(trainerModel,
            new RewardModelTrainer.Settings(1, 1000, 1, 8, 0, 1, Path.Combine(_dir, "published"), 1)
            {
                BatchWindow = TimeSpan.FromMilliseconds(20), PublishMinInterval = TimeSpan.Zero,
            }, stats));
        Sys.ActorOf(RewardModelSubscriber.Props(intrinsic));
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, trainer,
            new CriticLabeller.Settings(1.0, 0, 64, 2, TimeSpan.FromSeconds(2), 1), stats));
        double Metric(string key) { var d = new Dictionary<string, double>(); stats.AddMetrics(d); return d[key]; }

        // Up: labels flow, a version is published, the intrinsic copy picks it up and knows the labelled texts.
        labeller.Tell(Group(1));
        AwaitCondition(() => intrinsic.ModelVersion > 0, Soon);
        var before = await intrinsic.ScoreAsync(Group(1), CancellationToken.None);
        Assert.Equal([1.0, 0.0], before.Select(s => s.Value));

        // Down: every label attempt fails and is counted; the reward model still scores every rollout.
        critic.Down = true;
        for (var n = 2; n <= 4; n++) labeller.Tell(Group(n));
        AwaitCondition(() => Metric("critic/label_failures") >= 6, Soon);
        var labelsWhileDown = Metric("critic/labels");
        var during = await intrinsic.ScoreAsync(Group(3), CancellationToken.None);
        Assert.All(during, s => Assert.True(s.Valid));
        Assert.All(during, s => Assert.Equal(0.5, s.Value)); // unseen by the table: the default, and it says so
        Assert.All(during, s => Assert.Contains("default", s.Details));
        Assert.Equal([1.0, 0.0], (await intrinsic.ScoreAsync(Group(1), CancellationToken.None)).Select(s => s.Value));

        // Back: the texts that failed may be offered again; new labels arrive and are published.
        critic.Down = false;
        labeller.Tell(Group(3));
        AwaitCondition(() => Metric("critic/labels") >= labelsWhileDown + 2, Soon);
        await AwaitAssertAsync(async () => Assert.Equal([1.0, 0.0], (await intrinsic.ScoreAsync(Group(3), CancellationToken.None)).Select(s => s.Value)), Soon);
    }
}
