using Pipeline.Learning.Weights;

namespace Pipeline.Cluster;

public enum WeightChunkOutcome
{
    /// <summary>Stored; the transfer still waits for other chunks.</summary>
    Accepted,
    /// <summary>Last chunk: the snapshot is reassembled, checksum-verified and decoded.</summary>
    Completed,
    /// <summary>This chunk was ignored (duplicate, index out of range, header disagreeing with its transfer, too many transfers,
    /// transfer already finished); the transfer itself is unaffected.</summary>
    Rejected,
    /// <summary>The transfer is abandoned (checksum mismatch, undecodable payload, stalled past its deadline); ask for the weights again.</summary>
    Failed,
}

/// <summary>What <see cref="WeightAssembler.Add"/> did with one chunk.</summary>
public sealed record WeightChunkResult(WeightChunkOutcome Outcome, string TransferId, long Version, WeightSnapshot? Snapshot = null, string? Reason = null);

/// <summary>A transfer abandoned by <see cref="WeightAssembler.Expire"/> or <see cref="WeightAssembler.Add"/>.</summary>
public sealed record WeightTransferFailure(string TransferId, long Version, int Received, int Count, string Reason);

/// <summary>
/// Puts <see cref="WeightChunk"/>s back into a <see cref="WeightSnapshot"/>. Chunks may arrive in any order; a duplicate or an
/// out-of-range index is rejected without harming the transfer; the reassembled bytes must match the SHA-256 checksum.
/// A transfer that receives no new chunk for <c>stallTimeout</c> fails, so a stalled sender never leaves a receiver waiting:
/// the owner calls <see cref="Expire"/> from a timer (at <see cref="NextDeadline"/>) and every <see cref="Add"/> checks it too.
/// Time is passed in (<c>now</c>, e.g. <c>Context.System.Scheduler.Now</c>), so tests need no sleeping. Not thread-safe: one owner (an actor).
/// </summary>
public sealed class WeightAssembler
{
    private const int RememberedFinished = 256;
    // A chunk count no real snapshot reaches (256 GiB at the default chunk size); refuses absurd headers before allocating.
    private const int MaxChunks = 1 << 20;

    private sealed class Transfer(WeightChunk first, DateTimeOffset now)
    {
        public readonly long Version = first.Version;
        public readonly int Count = first.Count;
        public readonly string Checksum = first.Checksum;
        public readonly byte[]?[] Parts = new byte[first.Count][];
        public int Received;
        public long Bytes;
        public DateTimeOffset LastProgress = now;
    }

    private readonly TimeSpan _stallTimeout;
    private readonly int _maxTransfers;
    private readonly long _maxTransferBytes;
    private readonly Dictionary<string, Transfer> _transfers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _finished = new(StringComparer.Ordinal);
    private readonly Queue<string> _finishedOrder = new();

    /// <param name="stallTimeout">A transfer fails when no new chunk arrived for this long.</param>
    /// <param name="maxTransfers">Transfers assembled at once; a chunk opening one more is rejected.</param>
    /// <param name="maxTransferBytes">Data bytes one transfer may hold (default: the 2 GiB array limit).</param>
    public WeightAssembler(TimeSpan stallTimeout, int maxTransfers = 4, long maxTransferBytes = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stallTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTransfers, 1);
        _stallTimeout = stallTimeout;
        _maxTransfers = maxTransfers;
        _maxTransferBytes = maxTransferBytes > 0 ? maxTransferBytes : Array.MaxLength;
    }

    /// <summary>Transfers waiting for chunks.</summary>
    public int InFlight => _transfers.Count;

    public long Completed { get; private set; }
    public long Failed { get; private set; }
    public long Rejected { get; private set; }

    /// <summary>When the first in-flight transfer stalls out if nothing arrives (null when none is in flight): schedule <see cref="Expire"/> then.</summary>
    public DateTimeOffset? NextDeadline =>
        _transfers.Count == 0 ? null : _transfers.Values.Min(t => t.LastProgress) + _stallTimeout;

    public WeightChunkResult Add(WeightChunk chunk, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var id = chunk.TransferId;

        if (_finished.TryGetValue(id, out var how))
            return Reject(chunk, $"transfer {id} already {how}");
        if (chunk.Count < 1 || chunk.Count > MaxChunks || chunk.Index < 0 || chunk.Index >= chunk.Count)
            return Reject(chunk, $"index {chunk.Index} out of range for {chunk.Count} chunks");

        if (!_transfers.TryGetValue(id, out var t))
        {
            if (_transfers.Count >= _maxTransfers)
                return Reject(chunk, $"{_transfers.Count} transfers already in flight (max {_maxTransfers})");
            t = new Transfer(chunk, now);
            _transfers[id] = t;
        }
        else if (now - t.LastProgress > _stallTimeout)
        {
            var failure = Fail(id, t, $"stalled: no chunk for {(now - t.LastProgress).TotalSeconds:0.###} s (deadline {_stallTimeout.TotalSeconds:0.###} s)");
            return new WeightChunkResult(WeightChunkOutcome.Failed, id, t.Version, Reason: failure.Reason);
        }
        else if (chunk.Count != t.Count || chunk.Version != t.Version || !string.Equals(chunk.Checksum, t.Checksum, StringComparison.Ordinal))
        {
            return Reject(chunk, $"header (v{chunk.Version}, {chunk.Count} chunks) disagrees with transfer {id} (v{t.Version}, {t.Count} chunks)");
        }

        if (t.Parts[chunk.Index] is not null)
            return Reject(chunk, $"duplicate chunk {chunk.Index} of {id}");
        if (t.Bytes + chunk.Data.Length > _maxTransferBytes)
        {
            var failure = Fail(id, t, $"transfer exceeds {_maxTransferBytes} bytes");
            return new WeightChunkResult(WeightChunkOutcome.Failed, id, t.Version, Reason: failure.Reason);
        }

        t.Parts[chunk.Index] = chunk.Data;
        t.Received++;
        t.Bytes += chunk.Data.Length;
        t.LastProgress = now;
        if (t.Received < t.Count)
            return new WeightChunkResult(WeightChunkOutcome.Accepted, id, t.Version);

        return Finish(id, t);
    }

    /// <summary>
    /// Forgets, without counting them as failed, the transfers of versions up to <paramref name="version"/> (another
    /// transfer of a version at least as new has completed: their chunks are no longer wanted). Returns how many.
    /// </summary>
    public int DropUpTo(long version)
    {
        var dropped = 0;
        foreach (var (id, t) in _transfers.ToArray())
        {
            if (t.Version > version) continue;
            _transfers.Remove(id);
            Remember(id, "superseded");
            dropped++;
        }
        return dropped;
    }

    /// <summary>Fails every transfer whose last chunk arrived more than the stall timeout before <paramref name="now"/>.</summary>
    public IReadOnlyList<WeightTransferFailure> Expire(DateTimeOffset now)
    {
        List<WeightTransferFailure>? failures = null;
        foreach (var (id, t) in _transfers.ToArray())
        {
            if (now - t.LastProgress <= _stallTimeout) continue;
            (failures ??= []).Add(Fail(id, t,
                $"stalled: {t.Received} of {t.Count} chunks, none for {(now - t.LastProgress).TotalSeconds:0.###} s (deadline {_stallTimeout.TotalSeconds:0.###} s)"));
        }
        return failures ?? (IReadOnlyList<WeightTransferFailure>)[];
    }

    private WeightChunkResult Finish(string id, Transfer t)
    {
        _transfers.Remove(id);
        var payload = new byte[t.Bytes];
        var offset = 0;
        foreach (var part in t.Parts)
        {
            part!.CopyTo(payload, offset);
            offset += part.Length;
        }

        var actual = WeightChunking.Checksum(payload);
        if (!string.Equals(actual, t.Checksum, StringComparison.Ordinal))
            return FailFinished(id, t, $"checksum mismatch: expected {t.Checksum}, got {actual}");

        WeightSnapshot snapshot;
        try
        {
            snapshot = WeightChunking.Decode(payload);
        }
        catch (Exception e)
        {
            return FailFinished(id, t, $"undecodable payload: {e.Message}");
        }
        if (snapshot.Version != t.Version)
            return FailFinished(id, t, $"payload holds v{snapshot.Version}, chunks announced v{t.Version}");

        Completed++;
        Remember(id, "completed");
        return new WeightChunkResult(WeightChunkOutcome.Completed, id, t.Version, snapshot);
    }

    private WeightChunkResult FailFinished(string id, Transfer t, string reason)
    {
        var failure = Fail(id, t, reason);
        return new WeightChunkResult(WeightChunkOutcome.Failed, id, t.Version, Reason: failure.Reason);
    }

    private WeightTransferFailure Fail(string id, Transfer t, string reason)
    {
        _transfers.Remove(id);
        Failed++;
        Remember(id, "failed");
        return new WeightTransferFailure(id, t.Version, t.Received, t.Count, reason);
    }

    private WeightChunkResult Reject(WeightChunk chunk, string reason)
    {
        Rejected++;
        return new WeightChunkResult(WeightChunkOutcome.Rejected, chunk.TransferId, chunk.Version, Reason: reason);
    }

    // Late chunks of a finished transfer must not reopen it (it would only stall out later).
    private void Remember(string id, string how)
    {
        _finished[id] = how;
        _finishedOrder.Enqueue(id);
        while (_finishedOrder.Count > RememberedFinished) _finished.Remove(_finishedOrder.Dequeue());
    }
}
