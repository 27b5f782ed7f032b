namespace Pipeline.Core.Admission;

/// <summary>
/// AReaL's staleness-bounded admission: while the learner is at version v, at most
/// (eta + v + 1) * B - (accepted + running) new groups may start, where B is the number of groups per
/// training batch, eta the maximum staleness, accepted the groups admitted to the buffer since the start
/// of training and running the groups in flight. Bounds memory, queue depth and staleness with one number;
/// a slow stage slows admission instead of filling memory. Not thread-safe: owned by one actor.
/// </summary>
public sealed class AdmissionController
{
    private readonly int _batchGroups;
    private readonly int _maxStaleness;

    public AdmissionController(int batchGroups, int maxStaleness, long version = 0)
    {
        if (batchGroups <= 0) throw new ArgumentOutOfRangeException(nameof(batchGroups), batchGroups, "must be positive");
        if (maxStaleness < 0) throw new ArgumentOutOfRangeException(nameof(maxStaleness), maxStaleness, "must be >= 0");
        _batchGroups = batchGroups;
        _maxStaleness = maxStaleness;
        Version = version;
        // A resumed run has consumed exactly `version` batches.
        Accepted = version * batchGroups;
    }

    public long Version { get; private set; }
    public long Accepted { get; private set; }
    public int Running { get; private set; }
    public long Rejected { get; private set; }

    public long Capacity => (_maxStaleness + Version + 1) * _batchGroups - (Accepted + Running);

    public bool TryGrant() => TryGrant(out _);

    /// <summary>
    /// Grants one group if there is room. <paramref name="minFreshVersion"/>: the oldest policy version the group may be
    /// sampled with and still be fresh enough to train. The k-th group admitted since the start (counting from 0) fills
    /// batch k / B, which the learner asks for at version k / B; a group sampled with version g is trained only if
    /// k / B - g &lt;= eta. Admission never lets k / B exceed Version + eta, so this is never above <see cref="Version"/>.
    /// (A hint, not a promise: groups arrive out of order and released slots are refilled, so the batch a group lands in
    /// can differ by one.)
    /// </summary>
    public bool TryGrant(out long minFreshVersion)
    {
        minFreshVersion = 0;
        if (Capacity <= 0) return false;
        minFreshVersion = Math.Max(0, (Accepted + Running) / _batchGroups - _maxStaleness);
        Running++;
        return true;
    }

    /// <summary>A granted group reached the buffer.</summary>
    public void OnAccepted()
    {
        if (Running <= 0) throw new InvalidOperationException("accepted a group that was never granted");
        Running--;
        Accepted++;
    }

    /// <summary>A granted group was lost, dropped or expired: its slot opens again.</summary>
    public void OnReleased()
    {
        if (Running <= 0) throw new InvalidOperationException("released a group that was never granted");
        Running--;
        Rejected++;
    }

    /// <summary>An admitted group was later discarded (too stale): it no longer counts against capacity.</summary>
    public void OnDiscardedAfterAcceptance()
    {
        if (Accepted <= 0) throw new InvalidOperationException("discarded more groups than were accepted");
        Accepted--;
        Rejected++;
    }

    public void OnVersion(long version)
    {
        if (version < Version) throw new InvalidOperationException($"policy version went backwards: {Version} -> {version}");
        Version = version;
    }
}
