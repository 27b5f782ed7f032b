using Akka.Configuration;
using Pipeline.Learning.Weights;

namespace Pipeline.Cluster.Tests;

public sealed class WeightChunkingSpec
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(5);

    /// <summary>About 5 MB of float32 weights in a few tensors of odd sizes.</summary>
    private static WeightSnapshot FiveMegabytes(long version = 21)
    {
        var rng = new Random(3);
        float[] Floats(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        return new WeightSnapshot(version,
        [
            new NamedTensor("tok_embed.weight", [2000, 256], Floats(2000 * 256)),
            new NamedTensor("blocks.0.attn.qkv.weight", [768, 256], Floats(768 * 256)),
            new NamedTensor("blocks.0.mlp.fc.weight", [1024, 256], Floats(1024 * 256)),
            new NamedTensor("blocks.0.mlp.proj.weight", [256, 1024], Floats(1024 * 256)),
            new NamedTensor("blocks.0.ln.bias", [256], Floats(256)),
            new NamedTensor("lm_head.bias", [2000], Floats(2000)),
        ]);
    }

    [Fact]
    public void A_5_MB_snapshot_round_trips_through_chunks_in_any_order()
    {
        var snapshot = FiveMegabytes();
        var chunks = WeightChunking.Split(snapshot);
        Assert.InRange(snapshot.ParameterCount * 4L, 4_900_000, 5_200_000);
        Assert.True(chunks.Count >= 19, $"{chunks.Count} chunks");
        Assert.All(chunks, c => Assert.True(c.Data.Length <= WeightChunking.DefaultChunkBytes));
        Assert.All(chunks, c => Assert.Equal(chunks.Count, c.Count));
        Assert.Single(chunks.Select(c => c.TransferId).Distinct());

        var assembler = new WeightAssembler(Stall);
        var shuffled = chunks.OrderBy(_ => Random.Shared.Next()).ToList();
        WeightChunkResult? last = null;
        for (var i = 0; i < shuffled.Count; i++)
        {
            // Each chunk crosses the wire format too, as it would between nodes.
            var wire = (WeightChunk)PipelineMessageSerializer.Decode(PipelineMessageSerializer.Encode(shuffled[i]), "wc1");
            last = assembler.Add(wire, T0 + TimeSpan.FromMilliseconds(i));
            Assert.Equal(i < shuffled.Count - 1 ? WeightChunkOutcome.Accepted : WeightChunkOutcome.Completed, last.Outcome);
        }

        var back = Assert.IsType<WeightSnapshot>(last!.Snapshot);
        Assert.Equal(snapshot, back);                 // version, parameter count and checksum
        Assert.Null(Structural.Difference(snapshot, back));
        Assert.Equal(0, assembler.InFlight);
        Assert.Equal(1, assembler.Completed);
    }

    [Fact]
    public void A_snapshot_encoded_once_serves_two_transfers_each_of_which_assembles_with_the_checksum_of_the_whole_payload()
    {
        var snapshot = FiveMegabytes(version: 8);
        var encoded = WeightChunking.EncodeInPieces(snapshot);
        var whole = WeightChunking.Encode(snapshot);
        Assert.Equal(whole.Count, encoded.Bytes);
        Assert.Equal(WeightChunking.Checksum(whole), encoded.Checksum);  // hashed while writing = hashed afterwards

        var first = encoded.Chunks("to-node-b");
        var second = encoded.Chunks("to-node-c");
        Assert.Equal(encoded.PieceCount, first.Count);
        Assert.All(first.Zip(second), p => Assert.Same(p.First.Data, p.Second.Data));  // no second copy of the weights
        Assert.Equal(whole.ToArray(), first.SelectMany(c => c.Data).ToArray());
        Assert.All(first.SkipLast(1), c => Assert.Equal(WeightChunking.DefaultChunkBytes, c.Data.Length));

        foreach (var transfer in new[] { first, second })
        {
            var assembler = new WeightAssembler(Stall);
            WeightChunkResult? last = null;
            foreach (var chunk in transfer.Reverse()) last = assembler.Add(chunk, T0);
            Assert.Equal(WeightChunkOutcome.Completed, last!.Outcome);
            Assert.Null(Structural.Difference(snapshot, last.Snapshot!));
        }
    }

    [Fact]
    public void Serialized_chunks_fit_well_inside_the_remoting_frame_that_cluster_conf_sets()
    {
        var frame = ConfigurationFactory.ParseString(File.ReadAllText(RepoRoot.Combine("hocon", "cluster.conf")))
            .GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null);
        Assert.NotNull(frame);
        var chunk = WeightChunking.Split(FiveMegabytes())[0];
        var wireBytes = PipelineMessageSerializer.Encode(chunk).Length;
        Assert.True(wireBytes <= WeightChunking.DefaultChunkBytes + WeightChunking.ChunkOverheadBytes, $"{wireBytes} bytes");
        Assert.True(wireBytes * 2 < frame, $"a {wireBytes}-byte chunk against a {frame}-byte frame");
    }

    [Fact]
    public void A_corrupted_chunk_fails_the_transfer_on_the_checksum()
    {
        var chunks = WeightChunking.Split(FiveMegabytes());
        var corrupted = chunks[3].Data.ToArray();
        corrupted[1000] ^= 0x01;  // one bit
        var assembler = new WeightAssembler(Stall);

        WeightChunkResult? result = null;
        foreach (var c in chunks) result = assembler.Add(c.Index == 3 ? c with { Data = corrupted } : c, T0);

        Assert.Equal(WeightChunkOutcome.Failed, result!.Outcome);
        Assert.Contains("checksum mismatch", result.Reason);
        Assert.Null(result.Snapshot);
        Assert.Equal(1, assembler.Failed);
        Assert.Equal(0, assembler.InFlight);
        // A late duplicate of the failed transfer does not reopen it.
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[0], T0).Outcome);
    }

    [Fact]
    public void A_missing_chunk_fails_the_transfer_at_its_deadline_not_before()
    {
        var chunks = WeightChunking.Split(FiveMegabytes());
        var assembler = new WeightAssembler(Stall);
        var t = T0;
        foreach (var c in chunks.Where(c => c.Index != 7))
        {
            Assert.Equal(WeightChunkOutcome.Accepted, assembler.Add(c, t).Outcome);
            t += TimeSpan.FromMilliseconds(10);
        }
        var lastProgress = t - TimeSpan.FromMilliseconds(10);
        Assert.Equal(lastProgress + Stall, assembler.NextDeadline);

        Assert.Empty(assembler.Expire(lastProgress + Stall));  // exactly at the deadline: still waiting
        var failures = assembler.Expire(lastProgress + Stall + TimeSpan.FromMilliseconds(1));

        var failure = Assert.Single(failures);
        Assert.Equal(chunks[0].TransferId, failure.TransferId);
        Assert.Equal(chunks.Count - 1, failure.Received);
        Assert.Equal(chunks.Count, failure.Count);
        Assert.Contains("stalled", failure.Reason);
        Assert.Equal(0, assembler.InFlight);
        Assert.Null(assembler.NextDeadline);

        // The chunk that finally shows up is refused instead of opening a transfer that could never finish.
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[7], lastProgress + Stall * 2).Outcome);
        Assert.Equal(0, assembler.InFlight);
    }

    [Fact]
    public void A_chunk_arriving_after_the_deadline_fails_the_transfer_even_without_Expire()
    {
        var chunks = WeightChunking.Split(MessageSamples.Snapshot(scale: 100), maxChunkBytes: 512);
        Assert.True(chunks.Count >= 3);
        var assembler = new WeightAssembler(Stall);
        Assert.Equal(WeightChunkOutcome.Accepted, assembler.Add(chunks[0], T0).Outcome);
        var late = assembler.Add(chunks[1], T0 + Stall + TimeSpan.FromSeconds(1));
        Assert.Equal(WeightChunkOutcome.Failed, late.Outcome);
        Assert.Contains("stalled", late.Reason);
    }

    [Fact]
    public void Duplicates_out_of_range_indexes_and_disagreeing_headers_are_rejected_without_harming_the_transfer()
    {
        var snapshot = MessageSamples.Snapshot(scale: 100);
        var chunks = WeightChunking.Split(snapshot, maxChunkBytes: 256);
        var assembler = new WeightAssembler(Stall);

        Assert.Equal(WeightChunkOutcome.Accepted, assembler.Add(chunks[0], T0).Outcome);
        var dup = assembler.Add(chunks[0], T0);
        Assert.Equal(WeightChunkOutcome.Rejected, dup.Outcome);
        Assert.Contains("duplicate", dup.Reason);
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[1] with { Index = chunks.Count }, T0).Outcome);
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[1] with { Index = -1 }, T0).Outcome);
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[1] with { Count = chunks.Count + 1 }, T0).Outcome);
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[1] with { Version = 999 }, T0).Outcome);
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(chunks[1] with { Count = int.MaxValue, Index = 5 }, T0).Outcome);
        Assert.Equal(6, assembler.Rejected);

        WeightChunkResult? last = null;
        foreach (var c in chunks.Skip(1)) last = assembler.Add(c, T0);
        Assert.Equal(WeightChunkOutcome.Completed, last!.Outcome);
        Assert.Equal(snapshot, last.Snapshot);
    }

    [Fact]
    public void Transfers_beyond_the_limit_are_rejected_and_a_small_snapshot_is_one_chunk()
    {
        var assembler = new WeightAssembler(Stall, maxTransfers: 1);
        var a = WeightChunking.Split(MessageSamples.Snapshot(1, scale: 50), maxChunkBytes: 256);
        var b = WeightChunking.Split(MessageSamples.Snapshot(2, scale: 50), maxChunkBytes: 256);
        Assert.Equal(WeightChunkOutcome.Accepted, assembler.Add(a[0], T0).Outcome);
        Assert.Equal(WeightChunkOutcome.Rejected, assembler.Add(b[0], T0).Outcome);

        var single = WeightChunking.Split(MessageSamples.Snapshot(3));
        Assert.Single(single);
        Assert.Equal(WeightChunkOutcome.Completed, new WeightAssembler(Stall).Add(single[0], T0).Outcome);
    }
}
