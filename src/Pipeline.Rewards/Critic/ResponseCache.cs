namespace Pipeline.Rewards.Critic;

/// <summary>
/// A bounded least-recently-used map from a judge request's cache key to its parsed verdict. Only successful verdicts are stored.
/// Hand-written (a dictionary plus a linked list under one lock) rather than MemoryCache: MemoryCache's size limit is enforced by
/// background compaction, so it is not a hard bound, and the critic needs no expiry. Contention is negligible next to an HTTP call.
/// </summary>
internal sealed class ResponseCache(int capacity)
{
    private readonly Dictionary<string, LinkedListNode<(string Key, object Value)>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, object Value)> _order = new();
    private readonly Lock _lock = new();

    public int Capacity { get; } = capacity;

    public int Count
    {
        get { lock (_lock) return _map.Count; }
    }

    public bool TryGet(string key, out object? value)
    {
        lock (_lock)
        {
            if (_map.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                value = node.Value.Value;
                return true;
            }
        }
        value = null;
        return false;
    }

    public void Set(string key, object value)
    {
        if (Capacity <= 0) return;
        lock (_lock)
        {
            if (_map.TryGetValue(key, out var existing))
            {
                _order.Remove(existing);
                _map.Remove(key);
            }
            _map[key] = _order.AddFirst((key, value));
            while (_map.Count > Capacity)
            {
                var last = _order.Last!;
                _order.RemoveLast();
                _map.Remove(last.Value.Key);
            }
        }
    }
}
