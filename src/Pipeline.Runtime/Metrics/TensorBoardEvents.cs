using System.Buffers.Binary;
using System.Text;
using Pipeline.Learning.Checkpoints;

namespace Pipeline.Runtime.Metrics;

/// <summary>
/// Reads TensorBoard event files (TFRecord framing around <c>Event</c> protos) far enough to know each event's step and
/// scalar tags, and rewrites them without the events a resumed run will record again. Rewriting, rather than relying on
/// TensorBoard's purge on a <c>SessionLog.START</c> event, works the same in every reader (TensorBoard's fast Rust loader,
/// tbparse, pandas exports) and leaves no step twice on disk.
/// </summary>
public static class TensorBoardEvents
{
    /// <summary>One record: its step, the tags of its summary values, and its bytes as framed on disk (copied unchanged).</summary>
    public sealed record Event(long Step, IReadOnlyList<string> Tags, bool HasSummary, ReadOnlyMemory<byte> Framed);

    /// <summary>The whole records of an events file; a record cut off at the end of the file (a hard stop) is left out.</summary>
    public static List<Event> Read(string path, out bool partialTail)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        var at = 0;
        partialTail = false;
        while (at < bytes.Length)
        {
            // uint64 length, uint32 masked crc of the length, data, uint32 masked crc of the data.
            if (bytes.Length - at < 16) { partialTail = true; break; }
            var length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            if (length > (ulong)(bytes.Length - at - 16)) { partialTail = true; break; }
            var data = bytes.AsMemory(at + 12, (int)length);
            var (step, tags, hasSummary) = ParseEvent(data.Span);
            var total = 16 + (int)length;
            events.Add(new Event(step, tags, hasSummary, bytes.AsMemory(at, total)));
            at += total;
        }
        return events;
    }

    /// <summary>Rewrites each events file under <paramref name="folder"/> keeping what <paramref name="cut"/> keeps; returns a line per file changed.</summary>
    public static IReadOnlyList<string> CutBack(string folder, ResumeCut cut)
    {
        var said = new List<string>();
        if (!Directory.Exists(folder)) return said;
        foreach (var path in Directory.GetFiles(folder, "events.out.tfevents.*").Order(StringComparer.Ordinal))
        {
            List<Event> events;
            bool partial;
            try
            {
                events = Read(path, out partial);
            }
            catch (InvalidDataException e)
            {
                said.Add($"{Path.GetFileName(path)}: unreadable ({e.Message}); left as it is");
                continue;
            }
            // Events without a summary (the file_version header) carry no step of ours: they stay.
            var kept = events.Where(e => !e.HasSummary || cut.Keeps(e.Tags, e.Step)).ToList();
            if (kept.Count == events.Count && !partial) continue;
            using var buffer = new MemoryStream();
            foreach (var e in kept) buffer.Write(e.Framed.Span);
            DurableFiles.ReplaceAtomically(path, buffer.ToArray());
            said.Add($"tb/{Path.GetFileName(path)}: cut back to {cut.Stage} step {cut.Step}, dropped {events.Count - kept.Count} event(s) recorded after the checkpoint"
                     + (partial ? " and a record cut off by a hard stop" : ""));
        }
        return said;
    }

    // Event: 1 wall_time (fixed64), 2 step (varint), 3 file_version (bytes), 5 summary (bytes); Summary: 1 value (bytes);
    // Summary.Value: 1 tag (string).
    private static (long Step, List<string> Tags, bool HasSummary) ParseEvent(ReadOnlySpan<byte> data)
    {
        long step = 0;
        var tags = new List<string>();
        var hasSummary = false;
        var reader = new Proto(data);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 2 && wire == 0) step = (long)reader.Varint();
            else if (field == 5 && wire == 2)
            {
                hasSummary = true;
                var summary = new Proto(reader.Bytes());
                while (summary.Next(out var sf, out var sw))
                {
                    if (sf == 1 && sw == 2)
                    {
                        var value = new Proto(summary.Bytes());
                        while (value.Next(out var vf, out var vw))
                        {
                            if (vf == 1 && vw == 2) tags.Add(Encoding.UTF8.GetString(value.Bytes()));
                            else value.Skip(vw);
                        }
                    }
                    else summary.Skip(sw);
                }
            }
            else reader.Skip(wire);
        }
        return (step, tags, hasSummary);
    }

    private ref struct Proto(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _at;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_at >= _data.Length) return false;
            var key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_at >= _data.Length) throw new InvalidDataException("an event ends inside a varint");
                var b = _data[_at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
            throw new InvalidDataException("an event holds a varint longer than 10 bytes");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var length = (int)Varint();
            if (length < 0 || length > _data.Length - _at) throw new InvalidDataException("an event field runs past its end");
            var span = _data.Slice(_at, length);
            _at += length;
            return span;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _at += 8; break;
                case 2: Bytes(); break;
                case 5: _at += 4; break;
                default: throw new InvalidDataException($"an event holds an unknown wire type {wire}");
            }
            if (_at > _data.Length) throw new InvalidDataException("an event field runs past its end");
        }
    }
}
