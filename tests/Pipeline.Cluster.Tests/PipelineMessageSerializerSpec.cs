using System.Reflection;
using System.Runtime.Serialization;
using Akka.Serialization;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Protocol;
using static Pipeline.Runtime.Actors.SlowSourcePool;

namespace Pipeline.Cluster.Tests;

public sealed class PipelineMessageSerializerSpec() : Akka.TestKit.Xunit2.TestKit(PipelineSerialization.Config)
{
    /// <summary>Every concrete IPipelineMessage in the Pipeline.* assemblies next to the tests (test assemblies excluded).</summary>
    internal static IReadOnlyList<Type> AllMessageTypes()
    {
        var assemblies = Directory.EnumerateFiles(AppContext.BaseDirectory, "Pipeline.*.dll")
            .Where(f => !Path.GetFileName(f).Contains(".Tests", StringComparison.Ordinal))
            .Select(f => Assembly.Load(AssemblyName.GetAssemblyName(f)))
            .ToList();
        return assemblies
            .SelectMany(a => a.GetTypes())
            .Where(t => typeof(IPipelineMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false, ContainsGenericParameters: false })
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();
    }

    private PipelineMessageSerializer Serializer =>
        Assert.IsType<PipelineMessageSerializer>(Sys.Serialization.FindSerializerForType(typeof(RolloutGroupProbe)));

    // Any IPipelineMessage finds the bound serializer; this one only asks the binding.
    private sealed record RolloutGroupProbe : IPipelineMessage;

    [Fact]
    public void Every_message_type_in_the_pipeline_assemblies_has_a_manifest()
    {
        var types = AllMessageTypes();
        // The scan must see the assemblies at all: a few anchors from Core, Runtime (nested) and Cluster.
        Assert.Contains(typeof(RolloutGroup), types);
        Assert.Contains(typeof(ScoreRequest), types);
        Assert.Contains(typeof(WeightChunk), types);
        Assert.Contains(typeof(WeightStreamStart), types);
        Assert.DoesNotContain(typeof(PolicyWeights), types);  // in-process: its source is a node's own tensors

        var missing = types.Where(t => PipelineMessageSerializer.ManifestFor(t) is null).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0,
            $"IPipelineMessage types the wire format cannot carry (register them in src/Pipeline.Cluster/Wire/WireCodecs.cs): {string.Join(", ", missing)}");

        var stale = PipelineMessageSerializer.Manifests.Values.Except(types).Select(t => t.FullName).ToList();
        Assert.True(stale.Count == 0, $"manifests for types the scan did not find: {string.Join(", ", stale)}");
    }

    [Fact]
    public void Every_message_type_has_a_sample_that_round_trips_to_an_equal_value()
    {
        var serializer = Serializer;
        var types = AllMessageTypes();
        var withoutSample = types.Where(t => !MessageSamples.ByType.ContainsKey(t)).Select(t => t.FullName).ToList();
        Assert.True(withoutSample.Count == 0,
            $"message types without a sample in tests/Pipeline.Cluster.Tests/MessageSamples.cs: {string.Join(", ", withoutSample)}");

        var failures = new List<string>();
        foreach (var type in types)
        {
            foreach (var sample in MessageSamples.ByType[type]())
            {
                Assert.IsType(type, sample);
                var manifest = serializer.Manifest(sample);
                var bytes = serializer.ToBinary(sample);
                var back = serializer.FromBinary(bytes, manifest);
                if (Structural.Difference(sample, back) is { } diff) failures.Add($"{type.Name} ({manifest}): {diff}");
                // Through Akka's own entry points too, as remoting uses them.
                var viaAkka = Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
                if (Structural.Difference(sample, viaAkka) is { } diff2) failures.Add($"{type.Name} via Akka: {diff2}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Samples_give_every_field_a_non_default_value_somewhere()
    {
        // Otherwise a field the codec forgets (a new record parameter with a default) would round-trip "equal" by luck.
        var never = Structural.FieldsNeverExercised(MessageSamples.ByType.Values.SelectMany(f => f()));
        Assert.True(never.Count == 0, $"fields no sample sets to a non-default value (extend MessageSamples): {string.Join(", ", never)}");
    }

    [Fact]
    public void Record_equality_holds_after_a_round_trip_where_the_record_has_no_arrays()
    {
        object[] plain = [new Credit(1, 2), new RequestBatch(3, 4, 5), MessageSamples.Stats(), new CancelScore(6), StartRun.Instance, new RunFailed("x")];
        foreach (var m in plain)
            Assert.Equal(m, PipelineMessageSerializer.Decode(PipelineMessageSerializer.Encode(m), Serializer.Manifest(m)));
        // Singletons stay singletons.
        Assert.Same(StartRun.Instance, PipelineMessageSerializer.Decode(PipelineMessageSerializer.Encode(StartRun.Instance), "sr1"));
    }

    [Fact]
    public void Manifests_are_short_codes_not_type_names_and_are_unique()
    {
        foreach (var (manifest, type) in PipelineMessageSerializer.Manifests)
        {
            Assert.Matches("^[a-z]{2,4}[0-9]$", manifest);
            Assert.DoesNotContain(type.Name, manifest, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(PipelineMessageSerializer.Manifests.Count, PipelineMessageSerializer.Manifests.Keys.Distinct().Count());
    }

    [Fact]
    public void The_bytes_of_simple_messages_are_pinned_so_the_format_does_not_drift()
    {
        // version byte 01, little-endian int64s / 7-bit-length UTF-8 strings. Changing these breaks mixed-version clusters.
        Assert.Equal("012A0000000000000007000000000000000600000000000000", Convert.ToHexString(PipelineMessageSerializer.Encode(new Credit(42, 7, 6))));
        Assert.Equal("010367C3BC", Convert.ToHexString(PipelineMessageSerializer.Encode(new RequestCredit("gü"))));
        Assert.Equal("01", Convert.ToHexString(PipelineMessageSerializer.Encode(Interrupt.Instance)));
        Assert.Equal(4711, Serializer.Identifier);
        Assert.Equal("cr2", Serializer.Manifest(new Credit(42, 7, 6)));
    }

    [Fact]
    public void A_corrupt_payload_throws_SerializationException_and_is_counted()
    {
        var before = PipelineMessageSerializer.DroppedCorrupt;
        var bytes = PipelineMessageSerializer.Encode(MessageSamples.Group());

        Assert.Throws<SerializationException>(() => Serializer.FromBinary(bytes[..^3], "rg1"));         // truncated
        Assert.Throws<SerializationException>(() => Serializer.FromBinary([.. bytes, 0], "rg1"));       // trailing byte
        var badVersion = (byte[])bytes.Clone();
        badVersion[0] = 99;
        Assert.Throws<SerializationException>(() => Serializer.FromBinary(badVersion, "rg1"));
        // A weight snapshot claiming two billion tensors fails before allocating them: format 1, label "", step 0, v=5, count int.MaxValue.
        byte[] hugeCount = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F];
        var e = Assert.Throws<SerializationException>(() => Serializer.FromBinary(hugeCount, "ep1"));
        Assert.Contains("2147483647", e.Message);

        Assert.True(PipelineMessageSerializer.DroppedCorrupt >= before + 4);
    }

    [Fact]
    public void A_type_without_a_manifest_cannot_be_written()
    {
        var e = Assert.Throws<SerializationException>(() => Serializer.ToBinary(new RolloutGroupProbe()));
        Assert.Contains(nameof(RolloutGroupProbe), e.Message);
        Assert.Throws<SerializationException>(() => Serializer.Manifest(new RolloutGroupProbe()));
    }

    [Fact]
    public void The_serializer_is_the_one_Akka_picks_for_every_message_type()
    {
        foreach (var type in AllMessageTypes())
        {
            var serializer = Sys.Serialization.FindSerializerForType(type);
            Assert.True(serializer is PipelineMessageSerializer, $"{type.Name} is bound to {serializer.GetType().Name}");
        }
        Assert.IsType<PipelineMessageSerializer>(Sys.Serialization.FindSerializerFor(MessageSamples.Group()));
        Assert.IsAssignableFrom<SerializerWithStringManifest>(Serializer);
    }
}
