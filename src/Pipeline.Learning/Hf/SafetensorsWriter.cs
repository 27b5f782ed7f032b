using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Pipeline.Learning.Hf;

/// <summary>Writes float tensors (row-major float32 arrays) to a <c>.safetensors</c> file as F32, F16 or BF16, with the <c>format = pt</c> metadata transformers requires.</summary>
public static class SafetensorsWriter
{
    public sealed record Item(string Name, long[] Shape, float[] Values);

    public static void Write(string path, IReadOnlyList<Item> items, string dtype = "F32")
    {
        foreach (var item in items)
        {
            var count = item.Shape.Aggregate(1L, (a, b) => a * b);
            if (count != item.Values.Length) throw new ArgumentException($"{item.Name}: shape [{string.Join(", ", item.Shape)}] holds {count} values, got {item.Values.Length}");
        }
        Write(path, items.Select(i => (i.Name, i.Shape)).ToList(), k => items[k].Values, dtype);
    }

    /// <summary>
    /// Streams tensors into <paramref name="path"/>: the header from <paramref name="layout"/> first, then the values of
    /// tensor k from <paramref name="valuesOf"/>(k), one tensor at a time (so at most one tensor is held as a managed copy).
    /// </summary>
    public static void Write(string path, IReadOnlyList<(string Name, long[] Shape)> layout, Func<int, float[]> valuesOf, string dtype = "F32")
    {
        var elementSize = dtype switch
        {
            "F32" => 4,
            "F16" or "BF16" => 2,
            _ => throw new ArgumentException($"dtype {dtype}: write F32, F16 or BF16", nameof(dtype)),
        };
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, shape) in layout)
        {
            var bytes = shape.Aggregate(1L, (a, b) => a * b) * elementSize;
            header[name] = new Dictionary<string, object> { ["dtype"] = dtype, ["shape"] = shape, ["data_offsets"] = new[] { offset, offset + bytes } };
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
        for (var k = 0; k < layout.Count; k++)
        {
            var values = valuesOf(k);
            var count = layout[k].Shape.Aggregate(1L, (a, b) => a * b);
            if (values.Length != count) throw new ArgumentException($"{layout[k].Name}: shape [{string.Join(", ", layout[k].Shape)}] holds {count} values, got {values.Length}");
            stream.Write(Encode(values, dtype));
        }
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
