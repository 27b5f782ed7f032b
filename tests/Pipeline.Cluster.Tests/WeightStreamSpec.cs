using Pipeline.Learning.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Cluster.Tests;

/// <summary>A weight version streamed chunk by chunk from a module's own tensors, staged by the receiver, applied in place.</summary>
public sealed class WeightStreamSpec
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);

    /// <summary>A bf16 matrix, fp32 tensors of odd sizes and a scalar: about 1.3 MB.</summary>
    private sealed class Mixed : nn.Module
    {
        private readonly TorchSharp.Modules.Parameter embed;
        private readonly TorchSharp.Modules.Parameter proj;
        private readonly TorchSharp.Modules.Parameter bias;
        private readonly TorchSharp.Modules.Parameter scale;

        public Mixed(int seed) : base("mixed")
        {
            var g = new Generator().manual_seed(seed);
            embed = nn.Parameter(randn([1000, 250], generator: g).to(ScalarType.BFloat16));
            proj = nn.Parameter(randn([333, 257], generator: g));
            bias = nn.Parameter(randn([7], generator: g));
            scale = nn.Parameter(randn([], generator: g));
            RegisterComponents();
        }
    }

    private static byte[][] Bytes(nn.Module m) => m.state_dict().Values.Select(t => t.bytes.ToArray()).ToArray();

    private static List<Core.Protocol.IPipelineMessage> Stream(IWeightSource source, int chunkBytes, out WeightStreamStart start)
    {
        using var sender = new WeightStreamSender(source, "t1", chunkBytes, Lease);
        start = Wire(sender.Start);
        var messages = new List<Core.Protocol.IPipelineMessage>();
        while (sender.Next(T0) is { } m) messages.Add(Wire(m));
        return messages;
    }

    // Every message crosses the wire format, as between nodes.
    private static T Wire<T>(T m) where T : notnull =>
        (T)PipelineMessageSerializer.Decode(PipelineMessageSerializer.Encode(m), PipelineMessageSerializer.ManifestFor(m.GetType())!);

    private static WeightStreamResult Receive(WeightStreamReceiver receiver, WeightStreamStart start, IEnumerable<Core.Protocol.IPipelineMessage> messages)
    {
        var result = receiver.Begin(start, T0);
        foreach (var m in messages)
        {
            result = m switch
            {
                WeightChunk c => receiver.Add(c, T0),
                WeightStreamEnd e => receiver.End(e, T0, Lease),
                WeightStreamAbort a => receiver.Abort(a),
                _ => throw new InvalidOperationException(m.GetType().Name),
            };
            if (result.Outcome != WeightChunkOutcome.Accepted) break;
        }
        return result;
    }

    [Fact]
    public void A_full_model_with_bf16_and_fp32_tensors_round_trips_through_the_chunk_stream_bit_for_bit()
    {
        using var learner = new Mixed(seed: 1);
        using var generator = new Mixed(seed: 2);
        using var live = new LiveWeights(learner);
        var source = live.Publish(4);

        var messages = Stream(source, 4096, out var start);
        var chunks = messages.OfType<WeightChunk>().ToList();
        // Raw bytes in each tensor's own dtype: bf16 travels as 2 bytes an element.
        Assert.Equal(1000 * 250 * 2 + (333 * 257 + 7 + 1) * 4, chunks.Sum(c => (long)c.Data.Length));
        Assert.All(chunks, c => Assert.InRange(c.Data.Length, 1, 4096));
        Assert.Equal(start.Count, chunks.Count);

        using var receiver = new WeightStreamReceiver(Stall);
        var result = Receive(receiver, start, messages);
        Assert.Equal(WeightChunkOutcome.Completed, result.Outcome);
        using var staged = Assert.IsType<StagedWeights>(result.Staged);
        Assert.True(WeightTransfer.Apply(generator, staged, Lease, chunkBytes: 4096));

        Assert.Equal(Bytes(learner), Bytes(generator));
        Assert.Equal(ScalarType.BFloat16, generator.state_dict()["embed"].dtype);
    }

    [Fact]
    public void A_truncated_or_corrupt_or_aborted_stream_leaves_the_generator_on_its_previous_version()
    {
        using var learner = new Mixed(seed: 3);
        using var generator = new Mixed(seed: 4);
        using var live = new LiveWeights(learner);
        var messages = Stream(live.Publish(7), 8192, out var start);
        var before = Bytes(generator);
        using var receiver = new WeightStreamReceiver(Stall);

        // Truncated: the last chunk never arrives, the end does.
        var truncated = receiver is var r1 ? Receive(r1, start, messages.Where((m, i) => i != messages.Count - 2)) : null;
        Assert.Equal(WeightChunkOutcome.Failed, truncated!.Outcome);
        Assert.Null(truncated.Staged);

        // Corrupt: one byte of one chunk flipped on the way.
        var corrupt = messages.Select(m => m is WeightChunk { Index: 3 } c ? c with { Data = Flip(c.Data) } : m);
        var failed = Receive(receiver, start, corrupt);
        Assert.Equal(WeightChunkOutcome.Failed, failed.Outcome);
        Assert.Contains("checksum mismatch", failed.Reason);

        // Stalled: half the chunks, then nothing past the deadline.
        Receive(receiver, start, messages.Take(messages.Count / 2));
        var expired = receiver.Expire(T0 + Stall + TimeSpan.FromSeconds(1));
        Assert.Equal(WeightChunkOutcome.Failed, expired!.Outcome);

        // Aborted: the learner steps mid-stream, so the sender stops and says why.
        using (var sender = new WeightStreamSender(live.Publish(8), "t2", 8192, Lease))
        {
            Assert.Equal(WeightChunkOutcome.Accepted, receiver.Begin(sender.Start, T0).Outcome);
            Assert.Equal(WeightChunkOutcome.Accepted, receiver.Add((WeightChunk)sender.Next(T0)!, T0).Outcome);
            live.BeginUpdate();
            var abort = Assert.IsType<WeightStreamAbort>(sender.Next(T0));
            Assert.Contains("superseded", abort.Reason);
            Assert.Equal(WeightChunkOutcome.Failed, receiver.Abort(abort).Outcome);
        }

        Assert.Equal(0, receiver.InFlight);
        Assert.Equal(4, receiver.Failed);
        Assert.Equal(before, Bytes(generator));  // nothing reached the generator's tensors
    }

    [Fact]
    public void A_header_that_disagrees_with_its_tensors_or_a_chunk_out_of_order_fails_the_transfer_and_names_why()
    {
        using var learner = new Mixed(seed: 5);
        using var live = new LiveWeights(learner);
        var messages = Stream(live.Publish(2), 65536, out var start);
        using var receiver = new WeightStreamReceiver(Stall, maxVersionBytes: 10_000_000);

        var wrongCount = receiver.Begin(start with { Count = start.Count + 1 }, T0);
        Assert.Equal(WeightChunkOutcome.Failed, wrongCount.Outcome);
        Assert.Contains($"announces {start.Count + 1} chunks", wrongCount.Reason);

        var tooBig = new WeightStreamReceiver(Stall, maxVersionBytes: 1000).Begin(start, T0);
        Assert.Contains("exceeds the 1000-byte limit", tooBig.Reason);

        var swapped = messages.ToList();
        (swapped[0], swapped[1]) = (swapped[1], swapped[0]);
        var outOfOrder = Receive(receiver, start, swapped);
        Assert.Equal(WeightChunkOutcome.Failed, outOfOrder.Outcome);
        Assert.Contains("chunk 1 (tensor 0 at 65536", outOfOrder.Reason);
    }

    [Fact]
    public void A_receiver_holds_no_model_bytes_beyond_the_chunk_in_hand_while_staging_and_applying_a_version()
    {
        const int chunk = 64 * 1024;
        using var learner = new Mixed(seed: 6);
        using var generator = new Mixed(seed: 7);
        using var live = new LiveWeights(learner);
        var messages = Stream(live.Publish(3), chunk, out var start);
        var versionBytes = messages.OfType<WeightChunk>().Sum(c => (long)c.Data.Length);
        Assert.True(versionBytes > 10 * chunk, $"{versionBytes} bytes");
        using var receiver = new WeightStreamReceiver(Stall);

        // The chunks exist already (they came off the wire); what the receiver allocates besides is its own holding.
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var result = Receive(receiver, start, messages);
        var staging = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Equal(WeightChunkOutcome.Completed, result.Outcome);
        Assert.Equal(0, receiver.BufferedBytes);
        Assert.True(staging < chunk, $"staging a {versionBytes}-byte version allocated {staging} bytes (one chunk is {chunk})");

        using var staged = result.Staged!;
        WeightTransfer.Apply(generator, staged, Lease, chunk);  // warm-up: TorchSharp's first calls allocate their own caches
        allocated = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(WeightTransfer.Apply(generator, staged, Lease, chunk));
        var applying = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(applying < chunk + 16 * 1024, $"applying a {versionBytes}-byte version allocated {applying} bytes (one chunk is {chunk})");
        Assert.Equal(Bytes(learner), Bytes(generator));
    }

    private static byte[] Flip(byte[] data)
    {
        var copy = (byte[])data.Clone();
        copy[copy.Length / 2] ^= 0x40;
        return copy;
    }
}
