using Akka.Configuration;

namespace Pipeline.Cluster;

/// <summary>
/// The HOCON that binds <see cref="PipelineMessageSerializer"/> to <c>IPipelineMessage</c>. The same block sits in
/// <c>hocon/cluster.conf</c>; a test keeps the two equal.
/// </summary>
public static class PipelineSerialization
{
    public const string Config = """
        akka.actor {
          serializers {
            pipeline = "Pipeline.Cluster.PipelineMessageSerializer, Pipeline.Cluster"
          }
          serialization-bindings {
            "Pipeline.Core.Protocol.IPipelineMessage, Pipeline.Core" = pipeline
          }
          serialization-identifiers {
            "Pipeline.Cluster.PipelineMessageSerializer, Pipeline.Cluster" = 4711
          }
        }
        """;

    /// <summary><see cref="Config"/> parsed, for <c>WithFallback</c> chains.</summary>
    public static Akka.Configuration.Config AsConfig() => ConfigurationFactory.ParseString(Config);
}
