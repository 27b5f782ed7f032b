namespace Pipeline.Simulation.Core;

/// <summary>
/// Virtual time: a <see cref="TimeProvider"/> whose now moves only when <see cref="TryRunNext"/> pops the earliest timer.
/// Timers are entries in one priority queue keyed (due, sequence), so two timers due at the same instant run in the order
/// they were set, and a seed replays bit for bit. Starts at a fixed epoch so that no wall-clock value enters a run.
/// </summary>
public sealed class VirtualClock : TimeProvider
{
    /// <summary>Virtual time zero (fixed, so timestamps in the output do not depend on when the simulation ran).</summary>
    public static readonly DateTimeOffset Epoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly PriorityQueue<Entry, (long Due, long Seq)> _queue = new();
    // Timers may be disposed from a task continuation; one lock keeps the queue whole (the loop itself is one thread).
    private readonly object _gate = new();
    private long _now;
    private long _seq;

    /// <summary>Virtual time since <see cref="Epoch"/>.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(Volatile.Read(ref _now));

    /// <summary>Timers waiting (including cancelled ones not yet popped).</summary>
    public int Pending { get { lock (_gate) return _queue.Count; } }

    public override DateTimeOffset GetUtcNow() => Epoch + Elapsed;
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() => Volatile.Read(ref _now);

    /// <summary>Runs <paramref name="action"/> when virtual time reaches now + <paramref name="delay"/> (a negative delay counts as zero).</summary>
    public void Schedule(TimeSpan delay, Action action) => Add(delay, new Entry(action, null, 0));

    private void Add(TimeSpan delay, Entry entry)
    {
        var ticks = Math.Max(0, delay.Ticks);
        lock (_gate)
        {
            var due = ticks > long.MaxValue - _now ? long.MaxValue : _now + ticks;
            _queue.Enqueue(entry, (due, _seq++));
        }
    }

    /// <summary>
    /// Pops the earliest timer due no later than <paramref name="until"/> (virtual time since <see cref="Epoch"/>), moves now
    /// to its due time and runs it. False when none is due by then (now is left as it is).
    /// </summary>
    public bool TryRunNext(TimeSpan until)
    {
        while (true)
        {
            Entry entry;
            lock (_gate)
            {
                if (!_queue.TryPeek(out entry!, out var key) || key.Due > until.Ticks) return false;
                _queue.Dequeue();
                if (entry.Timer is { } t && t.Generation != entry.Generation) continue;  // changed or disposed since
                Volatile.Write(ref _now, Math.Max(_now, key.Due));
            }
            entry.Action();
            return true;
        }
    }

    /// <summary>Moves now forward to <paramref name="to"/> without running anything (the end of a simulation).</summary>
    public void AdvanceTo(TimeSpan to)
    {
        lock (_gate) Volatile.Write(ref _now, Math.Max(_now, to.Ticks));
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new VirtualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed record Entry(Action Action, VirtualTimer? Timer, long Generation);

    private sealed class VirtualTimer(VirtualClock clock, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period = Timeout.InfiniteTimeSpan;
        public long Generation;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            long generation;
            lock (clock._gate)
            {
                if (Generation < 0) return false;
                generation = ++Generation;
                _period = period;
            }
            if (dueTime != Timeout.InfiniteTimeSpan) clock.Add(dueTime, new Entry(() => Fire(generation), this, generation));
            return true;
        }

        private void Fire(long generation)
        {
            callback(state);
            TimeSpan period;
            lock (clock._gate)
            {
                if (Generation != generation) return;  // the callback changed or disposed it
                period = _period;
            }
            if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero) clock.Add(period, new Entry(() => Fire(generation), this, generation));
        }

        public void Dispose()
        {
            lock (clock._gate) Generation = -1;
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
