using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit.Xunit2;
using Pipeline.Cluster.Roles;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Tests;

/// <summary>The weights bridge's announcements, with a probe standing in for the distributed pub-sub mediator.</summary>
public sealed class WeightsBridgeSpec : TestKit
{
    [Fact]
    public void The_learner_node_bridge_keeps_re_announcing_its_newest_version_so_a_node_that_missed_an_announcement_catches_up()
    {
        var mediator = CreateTestProbe();
        var bridge = Sys.ActorOf(WeightsBridge.Props(mediator.Ref, upstream: null, reannounce: TimeSpan.FromMilliseconds(200)));
        mediator.ExpectMsg<Subscribe>();
        // Wait until the bridge is subscribed to the EventStream, where the learner publishes.
        AwaitAssert(() =>
        {
            Sys.EventStream.Publish(new PolicyWeights(MessageSamples.Snapshot(version: 3)));
            mediator.ExpectMsg<Publish>(TimeSpan.FromMilliseconds(100));
        }, TimeSpan.FromSeconds(5));
        mediator.ReceiveWhile(TimeSpan.FromMilliseconds(50), m => m);  // drain

        // No new version is published (a learner waiting for fresh groups), yet the newest one is announced again and again.
        var again = mediator.ReceiveN(3, TimeSpan.FromSeconds(3)).Cast<Publish>().ToList();
        Assert.All(again, p => Assert.Equal(ClusterRoles.WeightsTopic, p.Topic));
        Assert.All(again, p => Assert.Equal(new WeightsAvailable(3), p.Message));

        Sys.EventStream.Publish(new PolicyWeights(MessageSamples.Snapshot(version: 4)));
        mediator.FishForMessage(m => m is Publish { Message: WeightsAvailable { Version: 4 } }, TimeSpan.FromSeconds(3));
        Sys.Stop(bridge);
    }

    [Fact]
    public void A_generator_node_bridge_that_hears_no_announcement_asks_the_learner_node_which_version_it_holds_and_pulls_a_newer_one()
    {
        var upstream = CreateTestProbe();
        var bridge = Sys.ActorOf(WeightsBridge.Props(CreateTestProbe().Ref, upstream.Ref, retry: TimeSpan.FromMinutes(1), versionCheck: TimeSpan.FromMilliseconds(100)));
        upstream.ExpectMsg<WeightsVersionQuery>(TimeSpan.FromSeconds(3));
        upstream.Reply(new WeightsAvailable(5));
        upstream.FishForMessage(m => m is RequestLatestWeights, TimeSpan.FromSeconds(3));
        Sys.Stop(bridge);
    }

    /// <summary>A generator holding a credit for newer weights than its node has: the bridge asks the learner node at once.</summary>
    [Fact]
    public void A_generator_waiting_for_newer_weights_makes_the_bridge_ask_the_learner_node_at_once_and_pull()
    {
        var upstream = CreateTestProbe();
        var bridge = Sys.ActorOf(WeightsBridge.Props(CreateTestProbe().Ref, upstream.Ref, retry: TimeSpan.FromMinutes(1), versionCheck: TimeSpan.FromMinutes(1)));
        upstream.ExpectNoMsg(TimeSpan.FromMilliseconds(300));  // no periodic ask or check within the minute

        bridge.Tell(new NewerWeightsWanted(3), TestActor);
        upstream.ExpectMsg<WeightsVersionQuery>(TimeSpan.FromSeconds(1));
        upstream.Reply(new WeightsAvailable(5));
        upstream.ExpectMsg<RequestLatestWeights>(TimeSpan.FromSeconds(1));
        Sys.Stop(bridge);
    }

    [Fact]
    public void The_learner_node_bridge_answers_a_version_query_with_the_version_it_holds()
    {
        var bridge = Sys.ActorOf(WeightsBridge.Props(CreateTestProbe().Ref, upstream: null));
        bridge.Tell(WeightsVersionQuery.Instance, TestActor);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));  // holds none yet: nothing to say
        AwaitAssert(() =>
        {
            Sys.EventStream.Publish(new PolicyWeights(MessageSamples.Snapshot(version: 12)));
            bridge.Tell(WeightsVersionQuery.Instance, TestActor);
            Assert.Equal(new WeightsAvailable(12), ExpectMsg<WeightsAvailable>(TimeSpan.FromMilliseconds(200)));
        }, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_generator_node_bridge_announces_nothing_and_pulls_a_version_it_hears_of()
    {
        var mediator = CreateTestProbe();
        var upstream = CreateTestProbe();
        var bridge = Sys.ActorOf(WeightsBridge.Props(mediator.Ref, upstream.Ref, retry: TimeSpan.FromMinutes(1), reannounce: TimeSpan.FromMinutes(1)));
        mediator.ExpectMsg<Subscribe>();

        bridge.Tell(new WeightsAvailable(7), TestActor);
        upstream.ExpectMsg<RequestLatestWeights>();
        mediator.ExpectNoMsg(TimeSpan.FromMilliseconds(500));  // only the learner node's bridge announces
    }
}
