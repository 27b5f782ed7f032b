using System.Collections.Concurrent;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Event;
using Akka.Serialization;
using Pipeline.Core.Protocol;

namespace Pipeline.Cluster;

/// <summary>
/// The wire format of every <see cref="IPipelineMessage"/>: hand-written little-endian binary (BinaryWriter/BinaryReader),
/// one format-version byte, then the fields as laid out in <see cref="WireCodecs"/>. The manifest is a short stable code
/// per type (<c>rg1</c>), never a CLR type name, so a payload can only become one of the registered types.
/// <para>Bound to the marker interface by <see cref="PipelineSerialization.Config"/> (and <c>hocon/cluster.conf</c>).</para>
/// <para>A payload whose manifest is unknown (a newer node, a foreign sender) creates nothing: <see cref="FromBinary"/> throws
/// <see cref="SerializationException"/>, which remoting logs before dropping the message, and <see cref="DroppedUnknown"/> counts it.</para>
/// </summary>
public sealed class PipelineMessageSerializer : SerializerWithStringManifest
{
    public const int SerializerIdentifier = 4711;

    /// <summary>First byte of every payload; bump it only when the primitive encoding itself changes.</summary>
    public const byte FormatVersion = 1;

    // Reused per thread for ordinary messages; a buffer grown past this is dropped after use instead of pinned forever.
    private const int RetainedBufferBytes = 1 << 20;

    [ThreadStatic] private static BinaryWriter? t_writer;

    private static long s_droppedUnknown;
    private static long s_droppedCorrupt;
    private static readonly ConcurrentDictionary<string, byte> s_loggedUnknown = new(StringComparer.Ordinal);

    private long _toBinaryCalls;
    private long _fromBinaryCalls;

    public PipelineMessageSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public override int Identifier => SerializerIdentifier;

    /// <summary>Payloads refused in this process because their manifest names no registered type (nothing was created).</summary>
    public static long DroppedUnknown => Interlocked.Read(ref s_droppedUnknown);

    /// <summary>Payloads refused in this process because their bytes did not decode as the manifest's type.</summary>
    public static long DroppedCorrupt => Interlocked.Read(ref s_droppedCorrupt);

    /// <summary><see cref="ToBinary"/> calls on this instance (one instance per ActorSystem).</summary>
    public long ToBinaryCalls => Interlocked.Read(ref _toBinaryCalls);

    /// <summary><see cref="FromBinary"/> calls on this instance.</summary>
    public long FromBinaryCalls => Interlocked.Read(ref _fromBinaryCalls);

    /// <summary>Every manifest with the type it decodes to.</summary>
    public static IReadOnlyDictionary<string, Type> Manifests { get; } =
        WireCodecs.ByManifest.ToDictionary(kv => kv.Key, kv => kv.Value.Type, StringComparer.Ordinal);

    /// <summary>The manifest of <paramref name="type"/>, or null when this format cannot carry it.</summary>
    public static string? ManifestFor(Type type) => WireCodecs.ByType.TryGetValue(type, out var c) ? c.Manifest : null;

    public override string Manifest(object o) =>
        WireCodecs.ByType.TryGetValue(o.GetType(), out var c)
            ? c.Manifest
            : throw new SerializationException($"pipeline serializer: {o.GetType().FullName} has no manifest; register it in WireCodecs");

    public override byte[] ToBinary(object obj)
    {
        Interlocked.Increment(ref _toBinaryCalls);
        return Encode(obj);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        Interlocked.Increment(ref _fromBinaryCalls);
        if (!WireCodecs.ByManifest.TryGetValue(manifest, out var codec))
        {
            var dropped = Interlocked.Increment(ref s_droppedUnknown);
            if (s_loggedUnknown.Count < 64 && s_loggedUnknown.TryAdd(manifest, 0))
                system.Log.Warning("pipeline serializer: dropped a {0}-byte payload with unknown manifest '{1}' ({2} dropped so far)",
                    bytes.Length, manifest, dropped);
            throw new SerializationException(
                $"pipeline serializer: unknown manifest '{manifest}' ({bytes.Length} bytes); no instance created, payload dropped");
        }
        return Decode(bytes, codec);
    }

    /// <summary>Encodes a registered message; the same bytes <see cref="ToBinary"/> returns, with no ActorSystem needed.</summary>
    public static byte[] Encode(object message)
    {
        if (!WireCodecs.ByType.TryGetValue(message.GetType(), out var codec))
            throw new SerializationException($"pipeline serializer: {message.GetType().FullName} has no manifest; register it in WireCodecs");

        // One writer over one growable buffer per thread; taken out while in use, so a nested Encode gets its own.
        var w = t_writer ?? new BinaryWriter(new MemoryStream(4096), System.Text.Encoding.UTF8, leaveOpen: false);
        t_writer = null;
        var buffer = (MemoryStream)w.BaseStream;
        try
        {
            buffer.SetLength(0);
            w.Write(FormatVersion);
            codec.Write(w, message);
            w.Flush();
            return buffer.ToArray();
        }
        catch (Exception e) when (e is not SerializationException)
        {
            throw new SerializationException($"pipeline serializer: cannot write {message.GetType().Name} ({codec.Manifest}): {e.Message}", e);
        }
        finally
        {
            if (buffer.Capacity <= RetainedBufferBytes) t_writer = w;
        }
    }

    /// <summary>Decodes bytes made by <see cref="Encode"/>; throws <see cref="SerializationException"/> on an unknown manifest or corrupt bytes.</summary>
    public static object Decode(byte[] bytes, string manifest)
    {
        if (!WireCodecs.ByManifest.TryGetValue(manifest, out var codec))
            throw new SerializationException($"pipeline serializer: unknown manifest '{manifest}'; no instance created");
        return Decode(bytes, codec);
    }

    private static object Decode(byte[] bytes, WireCodecs.Codec codec)
    {
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            using var r = new BinaryReader(stream, System.Text.Encoding.UTF8);
            var version = r.ReadByte();
            if (version != FormatVersion)
                throw new SerializationException($"pipeline serializer: format version {version}, this node reads {FormatVersion}");
            var message = codec.Read(r);
            if (stream.Position != stream.Length)
                throw new SerializationException($"pipeline serializer: {stream.Length - stream.Position} trailing bytes after '{codec.Manifest}'");
            return message;
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref s_droppedCorrupt);
            if (e is SerializationException) throw;
            throw new SerializationException($"pipeline serializer: corrupt '{codec.Manifest}' payload ({bytes.Length} bytes): {e.Message}", e);
        }
    }
}
