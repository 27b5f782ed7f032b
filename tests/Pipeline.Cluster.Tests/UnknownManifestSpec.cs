using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Tests;

/// <summary>A message type this node's wire format does not know: it must create nothing, be counted, and be dropped.</summary>
public sealed class UnknownManifestSpec() : Akka.TestKit.Xunit2.TestKit(RemoteConfig(PipelineSerialization.AsConfig()))
{
    /// <summary>A message type only a "newer" node knows. It counts its constructions to prove no payload ever builds one.</summary>
    public sealed record Canary(string Payload) : IPipelineMessage
    {
        public static int Constructed;

        public string Payload { get; init; } = Touch(Payload);

        private static string Touch(string payload)
        {
            Interlocked.Increment(ref Constructed);
            return payload;
        }
    }

    /// <summary>The sender's wire format: ours plus the <see cref="Canary"/> (manifest "cny1"), under the same identifier.</summary>
    public sealed class NewerNodeSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
    {
        public override int Identifier => PipelineMessageSerializer.SerializerIdentifier;

        public override string Manifest(object o) => o is Canary ? "cny1" : PipelineMessageSerializer.ManifestFor(o.GetType())!;

        public override byte[] ToBinary(object obj) =>
            obj is Canary c ? [PipelineMessageSerializer.FormatVersion, .. System.Text.Encoding.UTF8.GetBytes(c.Payload)] : PipelineMessageSerializer.Encode(obj);

        public override object FromBinary(byte[] bytes, string manifest) => PipelineMessageSerializer.Decode(bytes, manifest);
    }

    private static Config RemoteConfig(Config serialization) => ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = WARNING
            """).WithFallback(serialization);

    private PipelineMessageSerializer Serializer =>
        Assert.IsType<PipelineMessageSerializer>(Sys.Serialization.FindSerializerForType(typeof(IPipelineMessage)));

    [Fact]
    public void An_unknown_manifest_throws_SerializationException_naming_it_and_is_counted()
    {
        var before = PipelineMessageSerializer.DroppedUnknown;
        var bytes = PipelineMessageSerializer.Encode(new Credit(1, 2));

        var e = Assert.Throws<SerializationException>(() => Serializer.FromBinary(bytes, "zz9"));
        Assert.Contains("'zz9'", e.Message);
        // The same through Akka's entry point, as remoting calls it.
        Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize(bytes, PipelineMessageSerializer.SerializerIdentifier, "zz9"));

        Assert.Equal(before + 2, PipelineMessageSerializer.DroppedUnknown);
    }

    [Fact]
    public void A_manifest_naming_a_real_type_creates_no_instance_of_it()
    {
        var before = Canary.Constructed;
        var dropped = PipelineMessageSerializer.DroppedUnknown;
        // Manifests that a type-name-resolving serializer would happily instantiate.
        string[] manifests = [typeof(Canary).AssemblyQualifiedName!, typeof(Canary).FullName!, nameof(Canary), $"{typeof(Canary).FullName}, {typeof(Canary).Assembly.GetName().Name}", "cny1"];
        foreach (var manifest in manifests)
        {
            var e = Assert.Throws<SerializationException>(() => Serializer.FromBinary([PipelineMessageSerializer.FormatVersion, 0x41], manifest));
            Assert.Contains(manifest, e.Message);
        }
        Assert.Equal(before, Canary.Constructed);
        Assert.Equal(dropped + manifests.Length, PipelineMessageSerializer.DroppedUnknown);
    }

    [Fact]
    public async Task Remoting_drops_a_payload_with_an_unknown_manifest_and_keeps_delivering_the_rest()
    {
        // This node (Sys) knows the pipeline format; "newer" additionally sends Canary messages.
        var newerConfig = RemoteConfig(ConfigurationFactory.ParseString("""
            akka.actor {
              serializers.newer = "Pipeline.Cluster.Tests.UnknownManifestSpec+NewerNodeSerializer, Pipeline.Cluster.Tests"
              serialization-bindings { "Pipeline.Core.Protocol.IPipelineMessage, Pipeline.Core" = newer }
            }
            """));
        var newer = ActorSystem.Create("newer", newerConfig);
        try
        {
            var probe = CreateTestProbe();
            var address = ((ExtendedActorSystem)Sys).Provider.DefaultAddress;
            var remoteProbe = ((ExtendedActorSystem)newer).Provider.ResolveActorRef(probe.Ref.Path.ToStringWithAddress(address));
            var dropped = PipelineMessageSerializer.DroppedUnknown;

            remoteProbe.Tell(new Credit(1, 1));
            Assert.Equal(new Credit(1, 1), probe.ExpectMsg<Credit>(TimeSpan.FromSeconds(10)));  // association is up

            var canary = new Canary("from a newer node");
            var constructed = Canary.Constructed;
            remoteProbe.Tell(canary);
            remoteProbe.Tell(new Credit(2, 2));

            // The canary is skipped, the next message still arrives over the same association.
            Assert.Equal(new Credit(2, 2), probe.ExpectMsg<Credit>(TimeSpan.FromSeconds(10)));
            probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
            AwaitCondition(() => PipelineMessageSerializer.DroppedUnknown > dropped, TimeSpan.FromSeconds(5));
            Assert.Equal(dropped + 1, PipelineMessageSerializer.DroppedUnknown);
            Assert.Equal(constructed, Canary.Constructed);
        }
        finally
        {
            await newer.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
