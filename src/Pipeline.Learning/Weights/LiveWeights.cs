using static TorchSharp.torch;

namespace Pipeline.Learning.Weights;

/// <summary>
/// The learner's own tensors as the source of every published version: nothing is copied at publication. Readers
/// (local generators copying with <c>copy_</c>, a node's bridge reading one chunk at a time) hold a read lease;
/// <see cref="BeginUpdate"/>, called before the optimizer touches the tensors, waits for leases to end and marks the
/// published version superseded, so a lease opened later gets null and a reader asks for the newest version instead.
/// </summary>
/// <remarks>
/// It holds aliases of the exported tensors (<c>detach()</c>: the same storage, no copy), so the storage outlives a
/// disposed module until this object is disposed too. A module with LoRA adapters exports only its adapters.
/// </remarks>
public sealed class LiveWeights : IDisposable
{
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Tensor[] _aliases;
    private readonly TensorLayout[] _layouts;
    private readonly TimeSpan _writerWait;
    private long _version = -1;
    private bool _disposed;

    /// <param name="writerWait">How long <see cref="BeginUpdate"/> waits for readers (a lease covers one chunk or one local copy).</param>
    public LiveWeights(nn.Module module, TimeSpan? writerWait = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        _writerWait = writerWait ?? TimeSpan.FromSeconds(60);
        var exported = WeightTransfer.Exported(module).ToList();
        _aliases = exported.Select(e => e.Tensor.detach().DetachFromDisposeScope()).ToArray();
        _layouts = exported.Select(e => new TensorLayout(e.Name, e.Tensor.shape, e.Tensor.dtype)).ToArray();
    }

    public IReadOnlyList<TensorLayout> Layouts => _layouts;

    /// <summary>The version readers may open now, or -1 while the tensors are being updated.</summary>
    public long Version
    {
        get
        {
            _lock.EnterReadLock();
            try { return _version; } finally { _lock.ExitReadLock(); }
        }
    }

    /// <summary>The tensors now hold <paramref name="version"/>: readers may open it.</summary>
    public IWeightSource Publish(long version)
    {
        Write(() => _version = version);
        return new Published(this, version);
    }

    /// <summary>The tensors are about to change: waits for open leases, then refuses new ones until the next <see cref="Publish"/>.</summary>
    /// <exception cref="TimeoutException">A reader held a lease longer than the writer wait.</exception>
    public void BeginUpdate() => Write(() => _version = -1);

    private void Write(Action change)
    {
        if (!_lock.TryEnterWriteLock(_writerWait))
            throw new TimeoutException($"live weights: a reader held v{_version} for over {_writerWait.TotalSeconds:0} s; the learner cannot update");
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            change();
        }
        finally { _lock.ExitWriteLock(); }
    }

    public void Dispose()
    {
        if (!_lock.TryEnterWriteLock(_writerWait)) return;  // a reader is stuck: leak the aliases rather than free what it reads
        try
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var a in _aliases) a.Dispose();
        }
        finally { _lock.ExitWriteLock(); }
    }

    private sealed class Published(LiveWeights owner, long version) : IWeightSource
    {
        public long Version => version;
        public IReadOnlyList<TensorLayout> Layouts => owner._layouts;

        public WeightReader? TryOpen(TimeSpan timeout)
        {
            if (!owner._lock.TryEnterReadLock(timeout))
                throw new TimeoutException($"live weights v{version}: the learner held its tensors for over {timeout.TotalSeconds:0.#} s");
            if (owner._disposed || owner._version != version)
            {
                owner._lock.ExitReadLock();
                return null;
            }
            return new Lease(owner);
        }
    }

    private sealed class Lease(LiveWeights owner) : WeightReader
    {
        private bool _closed;
        public override void Read(int tensor, long offset, Span<byte> destination) => TensorBytes.Read(owner._aliases[tensor], offset, destination);
        public override Tensor? Local(int tensor) => owner._aliases[tensor];

        public override void Dispose()
        {
            if (_closed) return;
            _closed = true;
            owner._lock.ExitReadLock();
        }
    }
}
