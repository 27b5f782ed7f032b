using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Pipeline.Cluster.Roles;
using Pipeline.Runtime.Protocol;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// A link to the buffer when the buffer is replaced (its singleton moved): the link, not the learner, tells the new buffer
/// what the old one knew, the learner's version and the batch request still waiting.
/// </summary>
public sealed class LearnerLinkSpec() : TestKit(Hocon)
{
    private const string Hocon = """
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        akka.cluster.roles = [buffer]
        akka.loglevel = WARNING
        """;

    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);
    private static readonly BufferStats Stats = new(0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Stands in for the buffer at /user/buffer: everything it gets goes to <c>probe</c>, sender kept.</summary>
    private sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef probe) => ReceiveAny(m => probe.Forward(m));
    }

    private IActorRef StartBuffer(TestProbe probe) => Sys.ActorOf(Props.Create(() => new Relay(probe.Ref)), "buffer");

    private void ReplaceBuffer(IActorRef old, TestProbe successor)
    {
        Watch(old);
        Sys.Stop(old);
        ExpectTerminated(old, Soon);
        StartBuffer(successor);
    }

    private IActorRef Link()
    {
        var cluster = AkkaCluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.State.Members.Any(m => m.Status == Akka.Cluster.MemberStatus.Up), Soon);
        return Sys.ActorOf(LearnerLink.Props("buffer", ["user", "buffer"], retry: TimeSpan.FromMilliseconds(100), announce: true,
            role: ClusterRoles.Buffer), "buffer-link");
    }

    [Fact]
    public void A_new_buffer_hears_the_newest_version_and_the_batch_request_that_still_waits_and_its_answer_reaches_the_learner()
    {
        var (learner, first, second) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var old = StartBuffer(first);
        var link = Link();
        link.Tell(new PolicyVersionAdvanced(2), learner.Ref);
        link.Tell(new PolicyVersionAdvanced(3), learner.Ref);
        link.Tell(new RequestBatch(7, 2, 3), learner.Ref);
        first.ExpectMsg<PolicyVersionAdvanced>(v => v.Version == 2, Soon);
        first.ExpectMsg<PolicyVersionAdvanced>(v => v.Version == 3, Soon);
        first.ExpectMsg<RequestBatch>(r => r.RequestId == 7, Soon);

        ReplaceBuffer(old, second);

        Assert.Equal(3, second.ExpectMsg<PolicyVersionAdvanced>(Soon).Version);
        var again = second.ExpectMsg<RequestBatch>(Soon);
        Assert.Equal(new RequestBatch(7, 2, 3), again);
        second.Reply(new TrainingBatch(7, [], Stats));
        Assert.Equal(7, learner.ExpectMsg<TrainingBatch>(Soon).RequestId);
    }

    [Fact]
    public void A_batch_request_the_old_buffer_answered_is_not_asked_again()
    {
        var (learner, first, second) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var old = StartBuffer(first);
        var link = Link();
        link.Tell(new PolicyVersionAdvanced(4), learner.Ref);
        link.Tell(new RequestBatch(9, 2, 4), learner.Ref);
        first.ExpectMsg<PolicyVersionAdvanced>(Soon);
        first.ExpectMsg<RequestBatch>(Soon);
        first.Reply(new TrainingBatch(9, [], Stats));
        learner.ExpectMsg<TrainingBatch>(b => b.RequestId == 9, Soon);

        ReplaceBuffer(old, second);

        Assert.Equal(4, second.ExpectMsg<PolicyVersionAdvanced>(Soon).Version);
        second.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public void The_request_of_a_learner_that_stopped_is_not_asked_of_the_next_buffer()
    {
        var (learner, first, second) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var old = StartBuffer(first);
        var link = Link();
        link.Tell(new RequestBatch(5, 2, 1), learner.Ref);
        first.ExpectMsg<RequestBatch>(Soon);
        Watch(learner.Ref);
        Sys.Stop(learner.Ref);
        ExpectTerminated(learner.Ref, Soon);

        ReplaceBuffer(old, second);

        second.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
    }
}
