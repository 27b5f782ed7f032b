namespace Pipeline.Testing;

/// <summary>Waiting on virtual time from inside a reward source or a scripted collaborator, without leaving the loop's thread.</summary>
public static class VirtualTime
{
    /// <summary>
    /// A delay of <paramref name="delay"/> on <paramref name="time"/> that completes, or is cancelled, on the thread that fires
    /// its timer or cancels its token: the loop's, in a simulation. <c>Task.Delay(delay, time, token)</c> also takes the virtual
    /// clock, but its continuation after a cancellation resumed on the thread pool here, which races the loop.
    /// </summary>
    public static Task Delay(TimeProvider time, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (delay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(delay), delay, "a delay cannot be negative");
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
        if (delay == TimeSpan.Zero) return Task.CompletedTask;
        // No RunContinuationsAsynchronously: the awaiting code continues where the timer or the cancellation ran.
        var done = new TaskCompletionSource();
        CancellationTokenRegistration registration = default;
        var timer = time.CreateTimer(_ =>
        {
            registration.Dispose();
            done.TrySetResult();
        }, null, delay, Timeout.InfiniteTimeSpan);
        registration = cancellationToken.Register(() =>
        {
            timer.Dispose();
            done.TrySetCanceled(cancellationToken);
        });
        return done.Task;
    }
}
