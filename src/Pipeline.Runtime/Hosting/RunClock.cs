namespace Pipeline.Runtime.Hosting;

/// <summary>
/// How a placement runs time: the clock the actors read for deadlines, expiries and durations, and whether reward sources
/// are called on the annotation stage's thread. Local and cluster mode use <see cref="Real"/>; the simulation placement
/// passes its virtual clock and calls sources inline, so nothing runs on the thread pool and a seed replays bit for bit.
/// </summary>
/// <param name="Time">The clock; <see cref="TimeProvider.System"/> outside a simulation.</param>
/// <param name="CallSourcesInline">Call each reward source directly instead of through <c>Task.Run</c> (the source must not block).</param>
public sealed record RunClock(TimeProvider Time, bool CallSourcesInline)
{
    /// <summary>Wall-clock time, sources called on the thread pool: every placement but the simulation.</summary>
    public static readonly RunClock Real = new(TimeProvider.System, false);
}
