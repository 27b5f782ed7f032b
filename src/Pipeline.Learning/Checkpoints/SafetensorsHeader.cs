using System.Buffers.Binary;
using System.Text.Json;

namespace Pipeline.Learning.Checkpoints;

/// <summary>
/// The header of a .safetensors file (8-byte little-endian length, then a JSON table of tensor name -> dtype, shape,
/// data offsets), read without loading any tensor: enough to tell a truncated file and to compare shapes.
/// </summary>
public static class SafetensorsHeader
{
    private const long MaxHeader = 100L << 20;

    /// <summary>Tensor shapes by name; throws <see cref="InvalidDataException"/> saying what is wrong when the file is not a whole safetensors file.</summary>
    public static Dictionary<string, long[]> ReadShapes(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new InvalidDataException($"{stream.Length} bytes, shorter than a safetensors header");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(MaxHeader, stream.Length - 8))
            throw new InvalidDataException($"header length {headerLength} exceeds the file ({stream.Length} bytes): truncated or not safetensors");
        var header = new byte[headerLength];
        stream.ReadExactly(header);

        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long end = 0;
        try
        {
            using var doc = JsonDocument.Parse(header);
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__") continue;
                var offsets = entry.Value.GetProperty("data_offsets");
                end = Math.Max(end, offsets[1].GetInt64());
                shapes[entry.Name] = entry.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new InvalidDataException($"header is not valid safetensors JSON ({e.Message})", e);
        }
        var expected = 8 + (long)headerLength + end;
        if (stream.Length != expected)
            throw new InvalidDataException($"{stream.Length} bytes, but its header describes {expected}: truncated or overwritten");
        return shapes;
    }
}
