using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Pipeline.Core.Configuration;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// One <c>.safetensors</c> file: the header is parsed and checked when opened (offsets inside the file, sizes that match
/// dtype x shape), and tensors are then read one at a time, converted to float32, so a large checkpoint never sits in
/// memory twice. Every problem is a <see cref="ConfigException"/> naming the file (and the tensor).
/// </summary>
public sealed class SafetensorsFile
{
    /// <summary>A tensor's place in the file; offsets are absolute file positions.</summary>
    public sealed record Entry(string Name, string Dtype, long[] Shape, long Start, long Length);

    // A header this large is not a checkpoint's: refuse before allocating it.
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private static readonly Dictionary<string, int> DtypeSizes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1,
        ["BOOL"] = 1, ["U16"] = 2, ["U32"] = 4, ["U64"] = 8, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
    };

    private SafetensorsFile(string path, Dictionary<string, Entry> tensors)
    {
        Path = path;
        Tensors = tensors;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, Entry> Tensors { get; }

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: file not found");
        using var stream = File.OpenRead(path);
        var fileLength = stream.Length;
        if (fileLength < 8) throw Corrupt(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength == 0 || headerLength > (ulong)(fileLength - 8) || headerLength > MaxHeaderBytes)
            throw Corrupt(path, $"header length {headerLength} does not fit a file of {fileLength} bytes");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataStart = 8 + (long)headerLength;
        var dataLength = fileLength - dataStart;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Corrupt(path, $"the header is not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Corrupt(path, "the header is not a JSON object");
            var tensors = new Dictionary<string, Entry>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__") continue;
                tensors[p.Name] = ReadEntry(path, p, dataStart, dataLength);
            }
            return new SafetensorsFile(path, tensors);
        }
    }

    private static Entry ReadEntry(string path, JsonProperty p, long dataStart, long dataLength)
    {
        var e = p.Value;
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Corrupt(path, $"tensor '{p.Name}' needs dtype, shape and data_offsets [begin, end]");
        var dtype = dtypeEl.GetString()!;
        if (!DtypeSizes.TryGetValue(dtype, out var elementSize)) throw Corrupt(path, $"tensor '{p.Name}' has unknown dtype '{dtype}'");
        var shape = new long[shapeEl.GetArrayLength()];
        var i = 0;
        long count = 1;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (!d.TryGetInt64(out var dim) || dim < 0) throw Corrupt(path, $"tensor '{p.Name}' has a bad shape {shapeEl.GetRawText()}");
            shape[i++] = dim;
            count = checked(count * dim);
        }
        var begin = offEl[0].TryGetInt64(out var b) ? b : -1;
        var end = offEl[1].TryGetInt64(out var x) ? x : -1;
        if (begin < 0 || end < begin || end > dataLength)
            throw Corrupt(path, $"tensor '{p.Name}' has data_offsets {offEl.GetRawText()} outside the {dataLength} data bytes");
        if (end - begin != count * elementSize)
            throw Corrupt(path, $"tensor '{p.Name}' ({dtype}, shape [{string.Join(", ", shape)}]) needs {count * elementSize} bytes, its data_offsets give {end - begin}");
        return new Entry(p.Name, dtype, shape, dataStart + begin, end - begin);
    }

    private static ConfigException Corrupt(string path, string problem) => new($"{path}: corrupt safetensors header: {problem}");

    /// <summary>Elements converted per chunk by <see cref="ReadInto"/>: 4M floats, a 16 MiB window.</summary>
    internal const int ChunkElements = 1 << 22;

    /// <summary>
    /// Reads one tensor (F32, F16, BF16 or F64 on disk) straight into <paramref name="target"/>, a float32 tensor with
    /// the same number of elements: a contiguous CPU target is filled in place chunk by chunk, so loading never holds a
    /// second full-size copy of the tensor (only a buffer of at most <paramref name="chunkElements"/> values).
    /// </summary>
    public void ReadInto(string name, Tensor target, int chunkElements = ChunkElements)
    {
        if (!Tensors.TryGetValue(name, out var entry)) throw new ConfigException($"{Path}: no tensor '{name}'");
        if (entry.Dtype is not ("F32" or "F16" or "BF16" or "F64"))
            throw new ConfigException($"{Path}: tensor '{name}' is {entry.Dtype}; model weights must be F32, F16 or BF16");
        var elementSize = DtypeSizes[entry.Dtype];
        var count = entry.Length / elementSize;
        if (target.numel() != count) throw new ArgumentException($"{name}: the file holds {count} values, the target {target.numel()}");
        if (target.dtype != ScalarType.Float32 || target.device_type != DeviceType.CPU || !target.is_contiguous())
        {
            // Another device or dtype: one float32 staging copy, then torch converts and moves it.
            using var staged = ReadFloat32(name);
            using var moved = staged.to(target.dtype, target.device);
            target.copy_(moved);
            return;
        }
        using var flat = target.view(-1);
        var buffer = entry.Dtype == "F32" ? null : new byte[(long)Math.Min(count, chunkElements) * elementSize];
        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        stream.Seek(entry.Start, SeekOrigin.Begin);
        for (long done = 0; done < count; done += chunkElements)
        {
            var n = (int)Math.Min(chunkElements, count - done);
            using var slice = flat.narrow(0, done, n);
            // The slice's own storage: a live span over the parameter's memory, offset included.
            var destination = MemoryMarshal.Cast<byte, float>(slice.bytes);
            if (buffer is null)
            {
                stream.ReadExactly(MemoryMarshal.AsBytes(destination));
                continue;
            }
            var raw = buffer.AsSpan(0, n * elementSize);
            stream.ReadExactly(raw);
            Widen(entry.Dtype, raw, destination);
        }
    }

    private static void Widen(string dtype, ReadOnlySpan<byte> raw, Span<float> values)
    {
        switch (dtype)
        {
            case "F64":
                var doubles = MemoryMarshal.Cast<byte, double>(raw);
                for (var i = 0; i < values.Length; i++) values[i] = (float)doubles[i];
                break;
            case "F16":
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (var i = 0; i < values.Length; i++) values[i] = (float)halves[i];
                break;
            case "BF16":
                // bfloat16 is the top half of a float32: widening is exact.
                var words = MemoryMarshal.Cast<byte, ushort>(raw);
                for (var i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(words[i] << 16);
                break;
        }
    }

    /// <summary>Reads one tensor as float32 on the CPU (F32, F16, BF16 and F64 on disk); the caller owns it.</summary>
    public Tensor ReadFloat32(string name)
    {
        if (!Tensors.TryGetValue(name, out var entry)) throw new ConfigException($"{Path}: no tensor '{name}'");
        var values = entry.Dtype switch
        {
            "F32" or "F16" or "BF16" or "F64" => new float[entry.Length / DtypeSizes[entry.Dtype]],
            _ => throw new ConfigException($"{Path}: tensor '{name}' is {entry.Dtype}; model weights must be F32, F16 or BF16"),
        };
        var bytes = new byte[entry.Length];
        using (var stream = File.OpenRead(Path))
        {
            stream.Seek(entry.Start, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
        }
        switch (entry.Dtype)
        {
            case "F32":
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
                break;
            case "F64":
                var doubles = MemoryMarshal.Cast<byte, double>(bytes);
                for (var i = 0; i < values.Length; i++) values[i] = (float)doubles[i];
                break;
            case "F16":
                var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                for (var i = 0; i < values.Length; i++) values[i] = (float)halves[i];
                break;
            case "BF16":
                // bfloat16 is the top half of a float32: widening is exact.
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (var i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(raw[i] << 16);
                break;
        }
        return tensor(values, entry.Shape, ScalarType.Float32);
    }
}
