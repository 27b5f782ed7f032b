using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Serialization;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Bound to <c>System.Object</c> in cluster tests in place of the default JSON serializer: a message type that has no
/// explicit binding and crosses a node is recorded and fails to serialize (so it is dropped and logged), instead of
/// silently crossing as JSON. Akka's own messages keep their specific bindings.
/// </summary>
public sealed class TripwireSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public const string Config = """
        akka.actor {
          serializers.tripwire = "Pipeline.Cluster.Tests.TripwireSerializer, Pipeline.Cluster.Tests"
          serialization-bindings { "System.Object" = tripwire }
          serialization-identifiers { "Pipeline.Cluster.Tests.TripwireSerializer, Pipeline.Cluster.Tests" = 4799 }
        }
        """;

    public static ConcurrentQueue<string> Hits { get; } = new();

    public override int Identifier => 4799;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        Hits.Enqueue(obj.GetType().FullName ?? obj.GetType().Name);
        throw new InvalidOperationException($"tripwire: {obj.GetType().FullName} has no explicit serializer binding and must not cross a node");
    }

    public override object FromBinary(byte[] bytes, Type type)
        => throw new InvalidOperationException("tripwire: nothing is ever written with this serializer");
}
