using Akka.Actor;
using Akka.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Tests;

/// <summary>With <c>serialize-messages = on</c> every local tell goes through the bound serializer, as if it crossed a node.</summary>
public sealed class SerializeMessagesSpec() : Akka.TestKit.Xunit2.TestKit(Config)
{
    private static readonly Config Config = ConfigurationFactory.ParseString("""
            akka.actor.serialize-messages = on
            akka.actor.serialize-creators = off
            """).WithFallback(PipelineSerialization.AsConfig());

    /// <summary>Passes every message on to <c>target</c>: the second hop between two actors.</summary>
    private sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef target) => ReceiveAny(m => target.Forward(m));

        public static Props Props(IActorRef target) => Akka.Actor.Props.Create(() => new Relay(target));
    }

    [Fact]
    public void Messages_between_two_actors_cross_the_pipeline_serializer_and_arrive_equal()
    {
        var serializer = Assert.IsType<PipelineMessageSerializer>(Sys.Serialization.FindSerializerForType(typeof(IPipelineMessage)));
        var probe = CreateTestProbe();
        var relay = Sys.ActorOf(Relay.Props(probe.Ref), "relay");

        object[] messages =
        [
            MessageSamples.Group(),
            MessageSamples.Annotated(3),
            new EvaluatePolicy("held-out", 3, MessageSamples.Snapshot()),
            new WeightChunk("w1-x", 1, 0, 16, [1, 2, 3, 4]),
            new Credit(5, 6),
        ];
        var before = serializer.ToBinaryCalls;
        var beforeFrom = serializer.FromBinaryCalls;

        foreach (var m in messages)
        {
            relay.Tell(m, TestActor);
            var received = probe.ExpectMsg<object>(TimeSpan.FromSeconds(5));
            Assert.NotSame(m, received);  // a copy made from bytes, not the sent instance
            Assert.Null(Structural.Difference(m, received));
            Assert.Equal(TestActor, probe.LastSender); // Forward kept the sender
        }

        // Two hops per message (test -> relay, relay -> probe), each serialized and deserialized by our serializer.
        Assert.True(serializer.ToBinaryCalls - before >= 2 * messages.Length, $"ToBinary calls: {serializer.ToBinaryCalls - before}");
        Assert.True(serializer.FromBinaryCalls - beforeFrom >= 2 * messages.Length, $"FromBinary calls: {serializer.FromBinaryCalls - beforeFrom}");
    }
}
