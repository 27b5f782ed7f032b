using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Pipeline.Learning.Hf;

/// <summary>Writes float tensors (row-major float32 arrays) to a <c>.safetensors</c> file as F32, F16 or BF16.</summary>
public static class SafetensorsWriter
{
    public sealed record Item(string Name, long[] Shape, float[] Values);

    public static void Write(string path, IReadOnlyList<Item> items, string dtype = "F32")
    {
        var elementSize = dtype switch
        {
            "F32" => 4,
            "F16" or "BF16" => 2,
            _ => throw new ArgumentException($"dtype {dtype}: write F32, F16 or BF16", nameof(dtype)),
        };
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var item in items)
        {
            var count = item.Shape.Aggregate(1L, (a, b) => a * b);
            if (count != item.Values.Length) throw new ArgumentException($"{item.Name}: shape [{string.Join(", ", item.Shape)}] holds {count} values, got {item.Values.Length}");
            var bytes = count * elementSize;
            header[item.Name] = new Dictionary<string, object> { ["dtype"] = dtype, ["shape"] = item.Shape, ["data_offsets"] = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = JsonSerializer.Serialize(header);
        // The data starts 8-byte aligned, as the reference writer pads the header with spaces.
        var headerBytes = Encoding.UTF8.GetBytes(json.PadRight((json.Length + 8 + 7) / 8 * 8 - 8));
        using var stream = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
        stream.Write(len);
        stream.Write(headerBytes);
        foreach (var item in items) stream.Write(Encode(item.Values, dtype));
    }

    private static byte[] Encode(float[] values, string dtype)
    {
        switch (dtype)
        {
            case "F32":
                return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
            case "F16":
            {
                var halves = new Half[values.Length];
                for (var i = 0; i < values.Length; i++) halves[i] = (Half)values[i];
                return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
            }
            default:
            {
                var raw = new ushort[values.Length];
                for (var i = 0; i < values.Length; i++)
                {
                    // Round to nearest even, as torch's float -> bfloat16 does.
                    var bits = BitConverter.SingleToUInt32Bits(values[i]);
                    raw[i] = (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
                }
                return MemoryMarshal.AsBytes(raw.AsSpan()).ToArray();
            }
        }
    }
}
