namespace Pipeline.Rewards.Critic;

/// <summary>Why a judge request produced no usable verdict. <see cref="CriticFailures.Key"/> gives the metric name.</summary>
public enum CriticFailure
{
    /// <summary>The last attempt ran past <c>timeout</c>.</summary>
    Timeout,
    /// <summary>The last attempt was answered 429 Too Many Requests.</summary>
    Http429,
    /// <summary>The last attempt was answered with a 5xx status.</summary>
    Http5xx,
    /// <summary>Any other non-success status (400, 401, 404, ...); not retried.</summary>
    Http4xx,
    /// <summary>Connection refused/reset, DNS, broken body: the request never got a full answer.</summary>
    Transport,
    /// <summary>The response (its Content-Length, or the bytes read) exceeded <c>max-response-bytes</c>; the rest was never read. Not retried.</summary>
    TooLarge,
    /// <summary>No structured answer of the expected shape: garbage body, prose without JSON, truncated JSON, missing field, non-number.</summary>
    Parse,
    /// <summary>A well-formed answer whose score lies outside the declared scale.</summary>
    OutOfRange,
    /// <summary>The judge declined ("I can't ..."), or the server's content filter stopped it.</summary>
    Refusal,
    /// <summary>The judge answered with no content.</summary>
    Empty,
    /// <summary>The circuit breaker was open: the call failed fast without a request.</summary>
    BreakerOpen,
}

public static class CriticFailures
{
    public static readonly IReadOnlyList<CriticFailure> All = Enum.GetValues<CriticFailure>();

    public static string Key(this CriticFailure failure) => failure switch
    {
        CriticFailure.Timeout => "timeout",
        CriticFailure.Http429 => "http-429",
        CriticFailure.Http5xx => "http-5xx",
        CriticFailure.Http4xx => "http-4xx",
        CriticFailure.Transport => "transport",
        CriticFailure.TooLarge => "too-large",
        CriticFailure.Parse => "parse",
        CriticFailure.OutOfRange => "out-of-range",
        CriticFailure.Refusal => "refusal",
        CriticFailure.Empty => "empty",
        CriticFailure.BreakerOpen => "breaker-open",
        _ => failure.ToString().ToLowerInvariant(),
    };

    /// <summary>The reasons an attempt counts against the circuit breaker (and is retried): the causes it can be opened by.</summary>
    public static readonly IReadOnlyList<CriticFailure> Transient = [CriticFailure.Timeout, CriticFailure.Http429, CriticFailure.Http5xx, CriticFailure.Transport];
}

/// <summary>
/// A snapshot of the client's counters. Every judge call that missed the cache ends in exactly one of: a success, one failure
/// reason, or a cancellation, so <c>Requests == Successes + Failures.Sum + Cancelled</c> once no call is in flight.
/// </summary>
/// <param name="Requests">Judge calls that went to the server side (cache misses), including ones the breaker failed fast.</param>
/// <param name="Successes">Calls that produced a usable verdict.</param>
/// <param name="Attempts">HTTP requests actually sent (first attempts plus retries).</param>
/// <param name="Retries">Attempts after the first one, over all calls.</param>
/// <param name="Failures">Failed calls by reason (<see cref="CriticFailures.Key"/>); every reason is present, zero or not.</param>
/// <param name="Cancelled">Calls given up because the caller cancelled.</param>
/// <param name="CacheHits">Calls answered from the response cache (not in <paramref name="Requests"/>).</param>
/// <param name="CacheMisses">Calls the cache could not answer (equals <paramref name="Requests"/> when the cache is on, less the canary probes, which skip it).</param>
/// <param name="BreakerState">closed, open, half-open or isolated.</param>
/// <param name="BreakerOpenings">How many times the breaker opened.</param>
/// <param name="BreakerOpenedBy">Breaker openings by the failure of the attempt that tripped it (every <see cref="CriticFailures.Transient"/> reason present).</param>
public sealed record CriticCounters(
    long Requests,
    long Successes,
    long Attempts,
    long Retries,
    IReadOnlyDictionary<string, long> Failures,
    long Cancelled,
    long CacheHits,
    long CacheMisses,
    string BreakerState,
    long BreakerOpenings,
    IReadOnlyDictionary<string, long> BreakerOpenedBy)
{
    public long FailureTotal => Failures.Values.Sum();

    public long Failed(CriticFailure reason) => Failures.TryGetValue(reason.Key(), out var n) ? n : 0;

    /// <summary>Flat metric names (<c>critic/requests</c>, <c>critic/failures/timeout</c>, ...) for a metrics recorder.</summary>
    public IReadOnlyDictionary<string, double> ToMetrics(string prefix = "critic")
    {
        var m = new Dictionary<string, double>
        {
            [$"{prefix}/requests"] = Requests,
            [$"{prefix}/successes"] = Successes,
            [$"{prefix}/attempts"] = Attempts,
            [$"{prefix}/retries"] = Retries,
            [$"{prefix}/cancelled"] = Cancelled,
            [$"{prefix}/cache_hits"] = CacheHits,
            [$"{prefix}/cache_misses"] = CacheMisses,
            [$"{prefix}/breaker_open"] = BreakerState == "closed" ? 0 : 1,
            [$"{prefix}/breaker_openings"] = BreakerOpenings,
        };
        foreach (var (k, v) in Failures) m[$"{prefix}/failures/{k}"] = v;
        foreach (var (k, v) in BreakerOpenedBy) m[$"{prefix}/breaker/opened_by/{k}"] = v;
        return m;
    }

    public override string ToString()
        => $"requests {Requests}, successes {Successes}, attempts {Attempts}, retries {Retries}, cancelled {Cancelled}, " +
           $"failures {{{string.Join(", ", Failures.Where(f => f.Value > 0).Select(f => $"{f.Key}: {f.Value}"))}}}, " +
           $"cache {CacheHits} hits / {CacheMisses} misses, breaker {BreakerState} (opened {BreakerOpenings}x" +
           string.Concat(BreakerOpenedBy.Where(b => b.Value > 0).Select(b => $", {b.Value}x by {b.Key}")) + ")";
}

/// <summary>The live, thread-safe counters behind <see cref="CriticCounters"/>.</summary>
internal sealed class CriticCounterSet
{
    private long _requests, _successes, _attempts, _retries, _cancelled, _hits, _misses, _openings;
    private readonly long[] _failures = new long[CriticFailures.All.Count];
    private readonly long[] _openedBy = new long[CriticFailures.All.Count];

    public void Request() => Interlocked.Increment(ref _requests);
    public void Success() => Interlocked.Increment(ref _successes);
    public void Attempt() => Interlocked.Increment(ref _attempts);
    public void Retry() => Interlocked.Increment(ref _retries);
    public void Cancel() => Interlocked.Increment(ref _cancelled);
    public void Hit() => Interlocked.Increment(ref _hits);
    public void Miss() => Interlocked.Increment(ref _misses);
    public void Opened(CriticFailure cause)
    {
        Interlocked.Increment(ref _openings);
        Interlocked.Increment(ref _openedBy[(int)cause]);
    }

    public void Fail(CriticFailure reason) => Interlocked.Increment(ref _failures[(int)reason]);

    public CriticCounters Snapshot(string breakerState) => new(
        Interlocked.Read(ref _requests),
        Interlocked.Read(ref _successes),
        Interlocked.Read(ref _attempts),
        Interlocked.Read(ref _retries),
        CriticFailures.All.ToDictionary(f => f.Key(), f => Interlocked.Read(ref _failures[(int)f])),
        Interlocked.Read(ref _cancelled),
        Interlocked.Read(ref _hits),
        Interlocked.Read(ref _misses),
        breakerState,
        Interlocked.Read(ref _openings),
        CriticFailures.Transient.ToDictionary(f => f.Key(), f => Interlocked.Read(ref _openedBy[(int)f])));
}
