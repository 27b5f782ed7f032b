using Pipeline.Learning.Weights;
using Akka.Actor;
using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Tests;

/// <summary>hocon/cluster.conf: binds the same serializer as <see cref="PipelineSerialization.Config"/> and starts a cluster node.</summary>
public sealed class ClusterConfSpec
{
    private static readonly string ClusterConf = RepoRoot.Combine("hocon", "cluster.conf");

    [Theory]
    [InlineData("akka.actor.serializers.pipeline")]
    [InlineData("akka.actor.serialization-bindings.\"Pipeline.Core.Protocol.IPipelineMessage, Pipeline.Core\"")]
    [InlineData("akka.actor.serialization-identifiers.\"Pipeline.Cluster.PipelineMessageSerializer, Pipeline.Cluster\"")]
    public void Cluster_conf_binds_the_serializer_exactly_as_the_code_constant(string key)
    {
        var file = ConfigurationFactory.ParseString(File.ReadAllText(ClusterConf));
        var code = PipelineSerialization.AsConfig();
        Assert.False(string.IsNullOrEmpty(code.GetString(key)), key);
        Assert.Equal(code.GetString(key), file.GetString(key));
    }

    [Fact]
    public void The_serializer_binding_names_real_types()
    {
        var code = PipelineSerialization.AsConfig();
        Assert.Equal(typeof(PipelineMessageSerializer), Type.GetType(code.GetString("akka.actor.serializers.pipeline"), throwOnError: true));
        Assert.Equal(PipelineMessageSerializer.SerializerIdentifier,
            code.GetInt("akka.actor.serialization-identifiers.\"Pipeline.Cluster.PipelineMessageSerializer, Pipeline.Cluster\""));
        Assert.NotNull(Type.GetType("Pipeline.Core.Protocol.IPipelineMessage, Pipeline.Core", throwOnError: true));
    }

    [Fact]
    public void Cluster_conf_uses_no_substitutions_because_Akka_HOCON_would_blank_the_value()
    {
        var meaningful = File.ReadLines(ClusterConf).Where(l => !l.TrimStart().StartsWith('#'));
        Assert.DoesNotContain(meaningful, l => l.Contains("${", StringComparison.Ordinal));
    }

    [Fact]
    public void The_frame_allows_a_weight_chunk_with_room_to_spare()
    {
        var frame = ConfigurationFactory.ParseString(File.ReadAllText(ClusterConf)).GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null);
        Assert.True(frame >= 4L * WeightTransfer.DefaultChunkBytes, $"frame {frame}");
    }

    [Fact]
    public async Task A_node_started_from_base_and_cluster_conf_is_a_cluster_node_using_the_pipeline_serializer()
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, ["akka.remote.dot-netty.tcp.port = 0"]);
        Assert.Equal("cluster", settings.Hocon.GetString("akka.actor.provider"));
        var system = ActorSystem.Create("cluster-conf-spec", settings.Hocon);
        try
        {
            Assert.IsType<Akka.Cluster.ClusterActorRefProvider>(((ExtendedActorSystem)system).Provider);
            Assert.IsType<PipelineMessageSerializer>(system.Serialization.FindSerializerFor(MessageSamples.Group()));
            Assert.IsType<PipelineMessageSerializer>(system.Serialization.FindSerializerFor(new EvaluatePolicy("x", 1, MessageSamples.Snapshot())));
            Assert.IsType<PipelineMessageSerializer>(system.Serialization.FindSerializerFor(new WeightChunk("w1", 0, 0, 0, [1, 2])));
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(15));
        }
    }
}
