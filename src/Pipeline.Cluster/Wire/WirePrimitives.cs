using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;

namespace Pipeline.Cluster;

/// <summary>
/// The building blocks of the wire format, all little-endian (BinaryWriter's order): strings are UTF-8 with a 7-bit length
/// prefix, a nullable value is a presence byte and the value, a collection is an int32 count (-1 for null / default)
/// followed by its elements, numeric arrays are their raw little-endian bytes.
/// Every count is checked against the bytes left, so a corrupt or hostile payload fails fast instead of allocating gigabytes.
/// </summary>
internal static class WirePrimitives
{
    private const int SmallCountBytes = 64 * 1024;

    public static void WriteNullable(this BinaryWriter w, string? s)
    {
        w.Write(s is not null);
        if (s is not null) w.Write(s);
    }

    public static string? ReadNullableString(this BinaryReader r) => r.ReadBoolean() ? r.ReadString() : null;

    public static void WriteTimeSpan(this BinaryWriter w, TimeSpan t) => w.Write(t.Ticks);

    public static TimeSpan ReadTimeSpan(this BinaryReader r) => TimeSpan.FromTicks(r.ReadInt64());

    /// <summary>Reads a count written by <c>Write(int)</c>; -1 (null) is allowed only when <paramref name="allowNull"/>.</summary>
    public static int ReadCount(this BinaryReader r, int minBytesPerElement, bool allowNull = false)
    {
        var n = r.ReadInt32();
        if (n == -1 && allowNull) return -1;
        if (n < 0) throw new SerializationException($"pipeline wire: negative count {n}");
        // Small counts cannot allocate much; reading past the end then fails on its own (EndOfStreamException).
        if ((long)n * Math.Max(minBytesPerElement, 1) <= SmallCountBytes) return n;
        var left = r.BaseStream.Length - r.BaseStream.Position;
        if ((long)n * Math.Max(minBytesPerElement, 0) > left)
            throw new SerializationException($"pipeline wire: count {n} needs more than the {left} bytes left (corrupt payload)");
        return n;
    }

    public static void WriteInts(this BinaryWriter w, int[] a)
    {
        w.Write(a.Length);
        if (BitConverter.IsLittleEndian) w.Write(MemoryMarshal.AsBytes(a.AsSpan()));
        else foreach (var x in a) w.Write(x);
    }

    public static int[] ReadInts(this BinaryReader r)
    {
        var a = new int[r.ReadCount(sizeof(int))];
        if (BitConverter.IsLittleEndian) r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
        else for (var i = 0; i < a.Length; i++) a[i] = r.ReadInt32();
        return a;
    }

    public static void WriteFloats(this BinaryWriter w, float[] a)
    {
        w.Write(a.Length);
        if (BitConverter.IsLittleEndian) w.Write(MemoryMarshal.AsBytes(a.AsSpan()));
        else foreach (var x in a) w.Write(x);
    }

    public static float[] ReadFloats(this BinaryReader r)
    {
        var a = new float[r.ReadCount(sizeof(float))];
        if (BitConverter.IsLittleEndian) r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
        else for (var i = 0; i < a.Length; i++) a[i] = r.ReadSingle();
        return a;
    }

    public static void WriteLongs(this BinaryWriter w, long[] a)
    {
        w.Write(a.Length);
        foreach (var x in a) w.Write(x);
    }

    public static long[] ReadLongs(this BinaryReader r)
    {
        var a = new long[r.ReadCount(sizeof(long))];
        for (var i = 0; i < a.Length; i++) a[i] = r.ReadInt64();
        return a;
    }

    public static void WriteBytes(this BinaryWriter w, byte[] a)
    {
        w.Write(a.Length);
        w.Write(a);
    }

    public static byte[] ReadBytes(this BinaryReader r)
    {
        var a = new byte[r.ReadCount(1)];
        r.BaseStream.ReadExactly(a);
        return a;
    }

    public static void WriteList<T>(this BinaryWriter w, IReadOnlyCollection<T>? items, Action<BinaryWriter, T> write)
    {
        if (items is null)
        {
            w.Write(-1);
            return;
        }
        w.Write(items.Count);
        foreach (var item in items) write(w, item);
    }

    /// <summary>Reads a list written by <see cref="WriteList{T}"/>; null only when <paramref name="allowNull"/>.</summary>
    public static T[]? ReadArray<T>(this BinaryReader r, Func<BinaryReader, T> read, int minBytesPerElement = 1, bool allowNull = false)
    {
        var n = r.ReadCount(minBytesPerElement, allowNull);
        if (n == -1) return null;
        var a = new T[n];
        for (var i = 0; i < n; i++) a[i] = read(r);
        return a;
    }

    public static void WriteImmutable<T>(this BinaryWriter w, ImmutableArray<T> items, Action<BinaryWriter, T> write)
    {
        if (items.IsDefault)
        {
            w.Write(-1);
            return;
        }
        w.Write(items.Length);
        foreach (var item in items) write(w, item);
    }

    /// <summary>Reads an array written by <see cref="WriteImmutable{T}"/>; a default (uninitialised) array stays default.</summary>
    public static ImmutableArray<T> ReadImmutable<T>(this BinaryReader r, Func<BinaryReader, T> read, int minBytesPerElement = 1)
    {
        var n = r.ReadCount(minBytesPerElement, allowNull: true);
        if (n == -1) return default;
        var b = ImmutableArray.CreateBuilder<T>(n);
        for (var i = 0; i < n; i++) b.Add(read(r));
        return b.MoveToImmutable();
    }

    public static void WriteMap<TValue>(this BinaryWriter w, IEnumerable<KeyValuePair<string, TValue>> map, int count, Action<BinaryWriter, TValue> write)
    {
        w.Write(count);
        var written = 0;
        foreach (var (k, v) in map)
        {
            w.Write(k);
            write(w, v);
            written++;
        }
        if (written != count) throw new SerializationException($"pipeline wire: map changed while written ({count} announced, {written} written)");
    }

    public static Dictionary<string, TValue> ReadMap<TValue>(this BinaryReader r, Func<BinaryReader, TValue> read, int minBytesPerEntry = 2)
    {
        var n = r.ReadCount(minBytesPerEntry);
        var d = new Dictionary<string, TValue>(n, StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            var k = r.ReadString();
            if (!d.TryAdd(k, read(r))) throw new SerializationException($"pipeline wire: duplicate key '{k}'");
        }
        return d;
    }
}
