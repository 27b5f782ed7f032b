using System.Collections.Immutable;
using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Oni.RewardModels;
using Pipeline.Runtime.Actors.Oni;
using Xunit.Abstractions;
using static Pipeline.Runtime.Actors.Oni.CriticLabeller;

namespace Pipeline.Runtime.Tests;

public class CriticLabellerSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output)
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(3);

    /// <summary>A critic that answers each completion with its length / 100, once the test opens the gate; counts its calls.</summary>
    private sealed class GatedCritic : IRewardSource
    {
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public List<string> Asked { get; } = [];
        public string Name => "critic";
        public RewardSourceKind Kind => RewardSourceKind.Slow;
        public (double Min, double Max) Range => (0, 1);
        public Func<string, bool> Fails { get; init; } = _ => false;

        public async Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
        {
            lock (Asked) Asked.Add(group.Rollouts.Single().CompletionText);
            await Gate.Task.WaitAsync(cancellationToken);
            var text = group.Rollouts[0].CompletionText;
            return [Fails(text) ? RewardSignal.Invalid("critic", "scripted failure", TimeSpan.Zero) : RewardSignal.Ok("critic", text.Length / 100.0, TimeSpan.Zero)];
        }
    }

    private static RolloutGroup Group(string id, params string[] texts)
    {
        var prompt = new Prompt("p-" + id, "question " + id, "SELECT 1", ImmutableDictionary<string, string>.Empty);
        return new RolloutGroup(id, prompt, 0,
            [.. texts.Select((t, i) => new Rollout($"{id}-{i}", id, prompt.Id, 0, [1], [2], [-1f], t, false))], TimeSpan.Zero);
    }

    private static CriticLabeller.Settings Options(int backlog = 16, int inFlight = 1, double rate = 1.0, double perSecond = 0)
        => new(rate, perSecond, backlog, inFlight, TimeSpan.FromSeconds(10), Seed: 3);

    private Stats StatsOf(IActorRef labeller)
    {
        labeller.Tell(GetStats.Instance);
        return ExpectMsg<Stats>(Soon);
    }

    [Fact]
    public void Labeller_must_never_ask_the_critic_twice_about_a_text_in_flight_waiting_or_labelled()
    {
        var critic = new GatedCritic();
        var trainer = CreateTestProbe();
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, trainer.Ref, Options()));

        labeller.Tell(Group("g1", "SELECT a", "SELECT bb", "SELECT a")); // the second "SELECT a" is a duplicate
        AwaitCondition(() => { lock (critic.Asked) return critic.Asked.Count == 1; }, Soon);
        labeller.Tell(Group("g2", "SELECT bb", "SELECT a"));               // one in flight, one waiting
        Assert.Equal(3, StatsOf(labeller).Duplicates);

        critic.Gate.SetResult();
        var labels = new[] { trainer.ExpectMsg<CriticLabels>(Soon), trainer.ExpectMsg<CriticLabels>(Soon) }.SelectMany(l => l.Labels).ToList();
        Assert.Equal(["SELECT bb", "SELECT a"], labels.Select(l => l.Text)); // newest first
        Assert.Equal(0.09, labels[0].Score, 9);

        labeller.Tell(Group("g3", "SELECT a")); // already labelled
        var stats = StatsOf(labeller);
        Assert.Equal((4L, 2L, 0, 0), (stats.Duplicates, stats.Labelled, stats.Backlog, stats.InFlight));
        lock (critic.Asked) Assert.Equal(2, critic.Asked.Count);
    }

    [Fact]
    public void With_prompt_completion_input_labels_carry_the_pair_and_the_same_completion_of_another_prompt_is_asked_again()
    {
        var critic = new GatedCritic();
        critic.Gate.SetResult();
        var trainer = CreateTestProbe();
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, trainer.Ref, Options() with { Input = RewardModelInput.PromptCompletion }));

        labeller.Tell(Group("g1", "SELECT a"));
        var first = trainer.ExpectMsg<CriticLabels>(Soon).Labels.Single();
        labeller.Tell(Group("g2", "SELECT a")); // the same SQL for another question is another verdict
        var second = trainer.ExpectMsg<CriticLabels>(Soon).Labels.Single();

        Assert.Equal(RewardModelInputs.Text(RewardModelInput.PromptCompletion, "question g1", "SELECT a"), first.Text);
        Assert.Equal(RewardModelInputs.Text(RewardModelInput.PromptCompletion, "question g2", "SELECT a"), second.Text);
        Assert.Equal(0, StatsOf(labeller).Duplicates);
    }

    [Fact]
    public void Labeller_must_cap_its_backlog_dropping_and_counting_the_oldest()
    {
        var critic = new GatedCritic();
        var trainer = CreateTestProbe();
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, trainer.Ref, Options(backlog: 2)));

        for (var i = 1; i <= 5; i++) labeller.Tell(Group("g" + i, $"SELECT {new string('x', i)}"));
        var stats = StatsOf(labeller);
        Assert.Equal((2L, 2, 1), (stats.Dropped, stats.Backlog, stats.InFlight));

        critic.Gate.SetResult();
        var texts = Enumerable.Range(0, 3).Select(_ => trainer.ExpectMsg<CriticLabels>(Soon).Labels.Single().Text).ToList();
        Assert.Equal(["SELECT x", "SELECT xxxxx", "SELECT xxxx"], texts); // the first went at once; then newest first; x2, x3 dropped
        trainer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_failed_label_is_counted_not_sent_and_the_text_may_be_offered_again()
    {
        var critic = new GatedCritic { Fails = t => t.Contains("bad") };
        critic.Gate.SetResult();
        var trainer = CreateTestProbe();
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, trainer.Ref, Options()));

        labeller.Tell(Group("g1", "SELECT bad"));
        AwaitCondition(() => StatsOf(labeller).Failed == 1, Soon);
        trainer.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        labeller.Tell(Group("g2", "SELECT bad"));
        AwaitCondition(() => StatsOf(labeller).Failed == 2, Soon);
        lock (critic.Asked) Assert.Equal(2, critic.Asked.Count);
    }

    [Fact]
    public void The_sampling_rate_picks_that_share_of_completions()
    {
        var critic = new GatedCritic();
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, CreateTestProbe().Ref, Options(backlog: 10_000, rate: 0.2)));
        for (var g = 0; g < 250; g++) labeller.Tell(Group("g" + g, Enumerable.Range(0, 4).Select(i => $"SELECT {g} {i}").ToArray()));
        var stats = StatsOf(labeller);
        Assert.Equal(1000, stats.Offered);
        Assert.InRange(stats.Sampled, 150, 250);
    }

    [Fact]
    public void A_labels_per_second_budget_holds_the_critic_to_that_rate()
    {
        var critic = new GatedCritic();
        critic.Gate.SetResult();
        var trainer = CreateTestProbe();
        var labeller = Sys.ActorOf(CriticLabeller.Props(critic, trainer.Ref, Options(backlog: 100, inFlight: 8, perSecond: 5)));

        labeller.Tell(Group("g", Enumerable.Range(0, 40).Select(i => $"SELECT {i}").ToArray()));
        Thread.Sleep(1000);
        var labelled = StatsOf(labeller).Labelled;
        Assert.InRange(labelled, 2, 9); // one to start with, then about 5 per second
    }
}
