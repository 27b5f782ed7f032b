using Microsoft.Win32.SafeHandles;
using Pipeline.Learning.Weights;

namespace Pipeline.Cluster;

/// <summary>
/// A received and checksum-verified weight version, staged in a temporary file (deleted when disposed): the node's
/// generators copy it into their own tensors a chunk at a time. Disposing waits for readers (up to a deadline), so a
/// generator never reads from a file that is going away.
/// </summary>
public sealed class StagedWeights : IWeightSource, IDisposable
{
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly SafeFileHandle _file;
    private readonly long[] _starts;
    private readonly TimeSpan _disposeWait;
    private bool _disposed;

    internal StagedWeights(long version, IReadOnlyList<TensorLayout> layouts, SafeFileHandle file, TimeSpan disposeWait)
    {
        Version = version;
        Layouts = layouts;
        _file = file;
        _disposeWait = disposeWait;
        _starts = new long[layouts.Count];
        for (long i = 0, at = 0; i < layouts.Count; at += layouts[(int)i].ByteLength, i++) _starts[i] = at;
    }

    public long Version { get; }
    public IReadOnlyList<TensorLayout> Layouts { get; }

    public WeightReader? TryOpen(TimeSpan timeout)
    {
        if (!_lock.TryEnterReadLock(timeout))
            throw new TimeoutException($"staged weights v{Version}: not readable within {timeout.TotalSeconds:0.#} s");
        if (_disposed)
        {
            _lock.ExitReadLock();
            return null;
        }
        return new Lease(this);
    }

    public void Dispose()
    {
        if (!_lock.TryEnterWriteLock(_disposeWait)) return;  // a reader is stuck: its lease keeps the file; the OS frees it at exit
        try
        {
            if (_disposed) return;
            _disposed = true;
            _file.Dispose();
        }
        finally { _lock.ExitWriteLock(); }
    }

    private sealed class Lease(StagedWeights owner) : WeightReader
    {
        private bool _closed;

        public override void Read(int tensor, long offset, Span<byte> destination)
        {
            var at = owner._starts[tensor] + offset;
            while (destination.Length > 0)
            {
                var n = RandomAccess.Read(owner._file, destination, at);
                if (n == 0) throw new IOException($"staged weights v{owner.Version}: file ends at byte {at}");
                destination = destination[n..];
                at += n;
            }
        }

        public override void Dispose()
        {
            if (_closed) return;
            _closed = true;
            owner._lock.ExitReadLock();
        }
    }
}
