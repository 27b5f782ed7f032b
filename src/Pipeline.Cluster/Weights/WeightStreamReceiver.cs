using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Pipeline.Learning.Weights;

namespace Pipeline.Cluster;

public enum WeightChunkOutcome
{
    /// <summary>Stored; acknowledge it so the sender sends the next.</summary>
    Accepted,
    /// <summary>The stream ended complete and its checksum matched: <see cref="WeightStreamResult.Staged"/> holds the version.</summary>
    Completed,
    /// <summary>Ignored (not the transfer in flight, e.g. a late message of an abandoned one); nothing changed.</summary>
    Rejected,
    /// <summary>The transfer is abandoned (gap, bad header, checksum mismatch, stall, sender abort); its staged bytes are dropped.</summary>
    Failed,
}

/// <summary>What <see cref="WeightStreamReceiver"/> did with one message of a stream.</summary>
public sealed record WeightStreamResult(WeightChunkOutcome Outcome, string TransferId, long Version, StagedWeights? Staged = null, string? Reason = null);

/// <summary>
/// Receives one weight stream at a time and stages it in a temporary file, so the node's generators change their
/// tensors only once a version arrived whole and matched its SHA-256: a truncated, corrupt or aborted stream leaves
/// them on the version they hold. Each chunk goes straight from the message to the file and the hash, so besides the
/// chunk in hand the receiver holds no managed bytes of the model (<see cref="BufferedBytes"/> stays 0); the price is
/// disk space for one version (two while a new one is staged and the old is still being read) and one extra write and
/// read of it. Chunks must arrive in order (one sender, one chunk in flight): a gap fails the transfer.
/// Time is passed in, so tests need no sleeping. Not thread-safe: one owner (an actor).
/// </summary>
public sealed class WeightStreamReceiver : IDisposable
{
    private sealed class Transfer(WeightStreamStart start, SafeFileHandle file, DateTimeOffset now) : IDisposable
    {
        public readonly WeightStreamStart Start = start;
        public readonly SafeFileHandle File = file;
        public readonly IncrementalHash Hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public int Next;
        public int Tensor;
        public long Offset;
        public long Written;
        public DateTimeOffset LastProgress = now;
        public void Dispose() { Hash.Dispose(); File.Dispose(); }
    }

    private readonly TimeSpan _stallTimeout;
    private readonly long _maxVersionBytes;
    private readonly string _stagingDir;
    private Transfer? _current;

    /// <param name="stallTimeout">A transfer fails when no message of it arrived for this long.</param>
    /// <param name="maxVersionBytes">Largest version accepted (a header announcing more is refused before anything is written).</param>
    /// <param name="stagingDir">Where staging files go (default: the system's temporary folder).</param>
    public WeightStreamReceiver(TimeSpan stallTimeout, long maxVersionBytes = 64L << 30, string? stagingDir = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stallTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxVersionBytes, 1);
        _stallTimeout = stallTimeout;
        _maxVersionBytes = maxVersionBytes;
        _stagingDir = stagingDir ?? Path.GetTempPath();
    }

    /// <summary>Transfers waiting for chunks (0 or 1).</summary>
    public int InFlight => _current is null ? 0 : 1;
    public string? CurrentTransfer => _current?.Start.TransferId;

    /// <summary>Managed bytes of model data this receiver keeps between messages: none (chunks go straight to the staging file).</summary>
    public long BufferedBytes => 0;

    /// <summary>Bytes written to the staging file of the transfer in flight.</summary>
    public long StagedBytes => _current?.Written ?? 0;

    public long Completed { get; private set; }
    public long Failed { get; private set; }
    public long Rejected { get; private set; }

    /// <summary>When the transfer in flight stalls out if nothing arrives (null when none): schedule <see cref="Expire"/> then.</summary>
    public DateTimeOffset? NextDeadline => _current?.LastProgress + _stallTimeout;

    /// <summary>Opens a transfer, replacing (and dropping) one in flight: the newest pull wins.</summary>
    public WeightStreamResult Begin(WeightStreamStart start, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(start);
        Drop();  // a transfer in flight is replaced: the newest pull wins
        var problem = Check(start);
        if (problem is not null)
        {
            Failed++;
            return new WeightStreamResult(WeightChunkOutcome.Failed, start.TransferId, start.Version, Reason: problem);
        }
        Directory.CreateDirectory(_stagingDir);
        var path = Path.Combine(_stagingDir, $"pipeline-weights-{start.TransferId}.bin");
        var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        _current = new Transfer(start, file, now);
        return new WeightStreamResult(WeightChunkOutcome.Accepted, start.TransferId, start.Version);
    }

    public WeightStreamResult Add(WeightChunk chunk, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (_current is not { } t || t.Start.TransferId != chunk.TransferId)
            return Reject(chunk.TransferId, "not the transfer in flight");
        if (Stalled(t, now) is { } stalled) return stalled;
        var layouts = t.Start.Layouts;
        while (t.Tensor < layouts.Count && t.Offset >= layouts[t.Tensor].ByteLength)
        {
            t.Tensor++;
            t.Offset = 0;
        }
        var expected = t.Tensor < layouts.Count ? Math.Min(t.Start.ChunkBytes, layouts[t.Tensor].ByteLength - t.Offset) : 0;
        if (chunk.Index != t.Next || chunk.Tensor != t.Tensor || chunk.Offset != t.Offset || chunk.Data.Length != expected)
            return Fail($"chunk {chunk.Index} (tensor {chunk.Tensor} at {chunk.Offset}, {chunk.Data.Length} bytes) where chunk {t.Next} " +
                $"(tensor {t.Tensor} at {t.Offset}, {expected} bytes) was due");
        RandomAccess.Write(t.File, chunk.Data, t.Written);
        t.Hash.AppendData(chunk.Data);
        t.Written += chunk.Data.Length;
        t.Offset += chunk.Data.Length;
        t.Next++;
        t.LastProgress = now;
        return new WeightStreamResult(WeightChunkOutcome.Accepted, t.Start.TransferId, t.Start.Version);
    }

    /// <summary>The sender's last word: the staged version is handed out when every chunk arrived and the checksum matches.</summary>
    public WeightStreamResult End(WeightStreamEnd end, DateTimeOffset now, TimeSpan readersWait)
    {
        ArgumentNullException.ThrowIfNull(end);
        if (_current is not { } t || t.Start.TransferId != end.TransferId)
            return Reject(end.TransferId, "not the transfer in flight");
        if (Stalled(t, now) is { } stalled) return stalled;
        if (t.Next != t.Start.Count || end.Count != t.Start.Count)
            return Fail($"stream ended after {t.Next} chunks (sender says {end.Count}), {t.Start.Count} announced");
        var actual = Convert.ToHexStringLower(t.Hash.GetHashAndReset());
        if (!string.Equals(actual, end.Checksum, StringComparison.Ordinal))
            return Fail($"checksum mismatch: expected {end.Checksum}, got {actual}");
        _current = null;
        t.Hash.Dispose();
        Completed++;
        var staged = new StagedWeights(t.Start.Version, t.Start.Layouts, t.File, readersWait);
        return new WeightStreamResult(WeightChunkOutcome.Completed, t.Start.TransferId, t.Start.Version, staged);
    }

    public WeightStreamResult Abort(WeightStreamAbort abort)
    {
        ArgumentNullException.ThrowIfNull(abort);
        if (_current is not { } t || t.Start.TransferId != abort.TransferId)
            return Reject(abort.TransferId, "not the transfer in flight");
        return Fail($"sender aborted: {abort.Reason}");
    }

    /// <summary>Fails the transfer in flight if nothing arrived for the stall timeout; null when nothing failed.</summary>
    public WeightStreamResult? Expire(DateTimeOffset now) => _current is { } t ? Stalled(t, now) : null;

    private WeightStreamResult? Stalled(Transfer t, DateTimeOffset now) =>
        now - t.LastProgress > _stallTimeout
            ? Fail($"stalled: {t.Next} of {t.Start.Count} chunks, none for {(now - t.LastProgress).TotalSeconds:0.###} s (deadline {_stallTimeout.TotalSeconds:0.###} s)")
            : null;

    private string? Check(WeightStreamStart s)
    {
        if (s.ChunkBytes < 16 || s.ChunkBytes % 16 != 0) return $"chunk size {s.ChunkBytes} is not a positive multiple of 16";
        if (s.Layouts is null || s.Layouts.Any(l => l is null || l.Shape.Any(d => d < 0))) return "malformed tensor list";
        long total;
        try
        {
            total = s.Layouts.Sum(l => l.ByteLength);
            if (WeightStreamSender.ChunkCount(s.Layouts, s.ChunkBytes) != s.Count)
                return $"announces {s.Count} chunks; its tensors make {WeightStreamSender.ChunkCount(s.Layouts, s.ChunkBytes)}";
        }
        catch (Exception e) when (e is OverflowException or NotSupportedException)
        {
            return $"unusable tensor list: {e.Message}";
        }
        return total > _maxVersionBytes ? $"version of {total} bytes exceeds the {_maxVersionBytes}-byte limit" : null;
    }

    private WeightStreamResult Fail(string reason)
    {
        var t = _current!;
        Drop();
        Failed++;
        return new WeightStreamResult(WeightChunkOutcome.Failed, t.Start.TransferId, t.Start.Version, Reason: reason);
    }

    private void Drop()
    {
        _current?.Dispose();
        _current = null;
    }

    private WeightStreamResult Reject(string id, string reason)
    {
        Rejected++;
        return new WeightStreamResult(WeightChunkOutcome.Rejected, id, -1, Reason: reason);
    }

    public void Dispose() => Drop();
}
