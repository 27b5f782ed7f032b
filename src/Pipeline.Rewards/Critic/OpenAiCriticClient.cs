using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.RateLimiting;
using Pipeline.Rewards.Rubrics;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Pipeline.Rewards.Critic;

/// <summary>The result of one judge call: a verdict, or the failure reason with details. <see cref="Latency"/> covers retries.</summary>
public sealed record JudgeOutcome<T>(T? Value, CriticFailure? Failure, string? Detail, TimeSpan Latency, bool Cached) where T : class
{
    public bool Ok => Failure is null && Value is not null;
}

/// <summary>
/// Client for an OpenAI-compatible judge: <c>POST {base-url}/chat/completions</c> (vLLM, Ollama <c>/v1</c>, llama.cpp server, TGI, OpenAI).
/// <para>Per call: response cache (bounded LRU) -> Polly pipeline [retry (jittered exponential, Retry-After honoured up to
/// retry-max-delay) -> circuit breaker] -> per attempt: requests-per-minute and tokens-per-minute token buckets, the concurrency
/// limiter (System.Threading.RateLimiting), and a Polly timeout around send + read. The reply is then parsed by the template's
/// parser; every problem ends as a <see cref="JudgeOutcome{T}"/> with a <see cref="CriticFailure"/> reason and is counted, only the
/// caller's cancellation throws.</para>
/// <para>The API key is read once from the environment variable named by <c>api-key-env</c>, sent as a Bearer token, and never
/// logged, never part of <see cref="ToString"/>, of a failure detail or of the counters.</para>
/// </summary>
public sealed class OpenAiCriticClient : ICriterionJudge, IDisposable
{
    /// <param name="TooLarge">Set when the body was abandoned past max-response-bytes (then <paramref name="Body"/> is empty): why.</param>
    private sealed record Attempt(int Status, string Body, TimeSpan? RetryAfter, string? TooLarge = null);

    /// <summary>The last attempt of one call that failed in a way the breaker counts: what the call reports when the breaker then opens.</summary>
    private sealed class CallTrace
    {
        public CriticFailure? Failure;
        public string? Detail;
    }

    /// <summary>Size of the pooled chunks a response body is read into (a body is never buffered beyond max-response-bytes).</summary>
    private const int ReadChunk = 64 * 1024;

    private static readonly MediaTypeHeaderValue JsonType = new("application/json") { CharSet = "utf-8" };

    private readonly CriticOptions _options;
    private readonly Action<string>? _log;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string? _apiKey;
    private readonly ResiliencePipeline<Attempt> _pipeline;
    private readonly ResiliencePipeline _timeout;
    private readonly CircuitBreakerStateProvider _breaker = new();
    private readonly ConcurrencyLimiter _slots;
    private readonly TokenBucketRateLimiter? _requestBucket;
    private readonly TokenBucketRateLimiter? _tokenBucket;
    private readonly int _tokenBucketLimit;
    private readonly ResponseCache? _cache;
    private readonly CriticCounterSet _counters = new();
    private int _failFastReported;

    /// <param name="options">Validated here (throws <see cref="Core.Configuration.ConfigException"/>).</param>
    /// <param name="log">Receives operational lines (breaker opened / failing fast / half-open / closed). Never the key.</param>
    /// <param name="handler">Optional HTTP handler (tests, proxies); the client owns and disposes it.</param>
    public OpenAiCriticClient(CriticOptions options, Action<string>? log = null, HttpMessageHandler? handler = null)
        : this(options, null, log, handler)
    {
    }

    /// <param name="endpoint">The URL every request goes to (a remote reward server's); null: {base-url}/chat/completions.</param>
    public OpenAiCriticClient(CriticOptions options, Uri? endpoint, Action<string>? log = null, HttpMessageHandler? handler = null)
    {
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        _log = log;
        _endpoint = endpoint ?? new Uri(options.BaseUrl.TrimEnd('/') + "/chat/completions");
        _apiKey = string.IsNullOrWhiteSpace(options.ApiKeyEnv) ? null : Environment.GetEnvironmentVariable(options.ApiKeyEnv) is { Length: > 0 } k ? k.Trim() : null;
        if (!string.IsNullOrWhiteSpace(options.ApiKeyEnv) && _apiKey is null)
            log?.Invoke($"critic: api-key-env names {options.ApiKeyEnv}, which is not set; requests go without an Authorization header");

        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = options.Timeout,
        }, disposeHandler: true)
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan, // the Polly timeout is the per-attempt limit
            MaxResponseContentBufferSize = options.MaxResponseBytes, // bodies are read as capped streams; this guards any buffered read
        };

        _slots = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = options.Concurrency,
            QueueLimit = 1_000_000_000,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
        (_requestBucket, _) = Bucket(options.RequestsPerMinute);
        (_tokenBucket, _tokenBucketLimit) = Bucket(options.TokensPerMinute);
        _cache = options.CacheEntries > 0 ? new ResponseCache(options.CacheEntries) : null;

        _timeout = new ResiliencePipelineBuilder().AddTimeout(options.Timeout).Build();
        var builder = new ResiliencePipelineBuilder<Attempt>();
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<Attempt>
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome)),
                // A server's Retry-After wins over our backoff, within retry-max-delay; null = the jittered exponential delay.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.RetryAfter is { } after
                    ? (TimeSpan?)(after < options.RetryMaxDelay ? after : options.RetryMaxDelay)
                    : null),
                OnRetry = _ =>
                {
                    _counters.Retry();
                    return default;
                },
            });
        }
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<Attempt>
        {
            FailureRatio = options.BreakerFailureRatio,
            SamplingDuration = options.BreakerSamplingWindow,
            MinimumThroughput = options.BreakerMinimumThroughput,
            BreakDuration = options.BreakerBreakDuration,
            ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome)),
            StateProvider = _breaker,
            OnOpened = args =>
            {
                var cause = Classify(args.Outcome);
                _counters.Opened(cause);
                Interlocked.Exchange(ref _failFastReported, 0);
                _log?.Invoke($"critic: circuit breaker OPEN for {args.BreakDuration.TotalSeconds:0.###} s after sustained failures, " +
                             $"opened by {cause.Key()} (last: {Describe(args.Outcome)}); calls under way report their own failure, new judge calls " +
                             "fail fast (counted as breaker-open) until a probe succeeds");
                return default;
            },
            OnHalfOpened = _ =>
            {
                _log?.Invoke("critic: circuit breaker half-open: probing the judge with one request");
                return default;
            },
            OnClosed = _ =>
            {
                _log?.Invoke("critic: circuit breaker closed: judge calls flow again");
                return default;
            },
        });
        _pipeline = builder.Build();
    }

    public CriticOptions Options => _options;

    /// <summary>The URL requests go to.</summary>
    public Uri Endpoint => _endpoint;

    /// <summary>closed, open, half-open or isolated.</summary>
    public string BreakerState => _breaker.CircuitState switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "isolated",
    };

    public CriticCounters Counters => _counters.Snapshot(BreakerState);

    public override string ToString() => $"OpenAiCriticClient({_endpoint}, model {_options.Model}, breaker {BreakerState})";

    // ------------------------------------------------------------------ typed calls

    /// <summary>Pointwise score on the configured scale (and spans when dense).</summary>
    public Task<JudgeOutcome<PointwiseVerdict>> ScoreAsync(string question, string? reference, string candidate, CancellationToken cancellationToken = default)
        => ScoreAsync(question, reference, candidate, _options.Scale, _options.Dense, cancellationToken);

    public Task<JudgeOutcome<PointwiseVerdict>> ScoreAsync(string question, string? reference, string candidate, ScoreScale scale, bool dense,
        CancellationToken cancellationToken = default)
        => JudgeAsync(JudgeTemplates.Pointwise(question, reference, candidate, scale, dense), r => JudgeTemplates.ParsePointwise(r, scale, dense), cancellationToken);

    /// <summary>Pairwise A/B with ties; <see cref="PairwiseVerdict.PA"/> is P(A better).</summary>
    public Task<JudgeOutcome<PairwiseVerdict>> CompareAsync(string question, string? reference, string a, string b, CancellationToken cancellationToken = default)
        => JudgeAsync(JudgeTemplates.Pairwise(question, reference, a, b), JudgeTemplates.ParsePairwise, cancellationToken);

    /// <summary>Yes/no for each criterion, all in one request.</summary>
    public Task<JudgeOutcome<CriteriaVerdict>> CriteriaAsync(string question, string? reference, string candidate, IReadOnlyList<JudgeCriterion> criteria,
        CancellationToken cancellationToken = default)
        => JudgeAsync(JudgeTemplates.Criteria(question, reference, candidate, criteria), r => JudgeTemplates.ParseCriteria(r, criteria), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string completion, IReadOnlyList<JudgeCriterion> criteria,
        CriterionBatching batching, CancellationToken cancellationToken)
        => JudgeCriteriaAsync(prompt, null, completion, criteria, batching, cancellationToken);

    /// <summary><see cref="ICriterionJudge"/> with a reference answer in the prompt.</summary>
    public async Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string? reference, string completion, IReadOnlyList<JudgeCriterion> criteria,
        CriterionBatching batching, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(criteria);
        if (criteria.Count == 0) return [];
        if (batching == CriterionBatching.AllInOne)
        {
            var all = await CriteriaAsync(prompt, reference, completion, criteria, cancellationToken).ConfigureAwait(false);
            return all.Ok ? all.Value!.Met.Select(m => (bool?)m).ToArray() : new bool?[criteria.Count];
        }
        var each = await Task.WhenAll(criteria.Select(c => CriteriaAsync(prompt, reference, completion, [c], cancellationToken))).ConfigureAwait(false);
        return each.Select(o => o.Ok ? (bool?)o.Value!.Met[0] : null).ToArray();
    }

    // ------------------------------------------------------------------ the core

    /// <summary>
    /// Sends one rendered prompt (through the cache, limiters, retry and breaker) and parses the reply with <paramref name="parse"/>.
    /// Never throws for judge or transport problems; throws <see cref="OperationCanceledException"/> only when
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public Task<JudgeOutcome<T>> JudgeAsync<T>(JudgePrompt prompt, Func<JudgeReply, JudgeParse<T>> parse, CancellationToken cancellationToken = default)
        where T : class
        => JudgeAsync(prompt, parse, useCache: true, cancellationToken);

    /// <summary>A pointwise score that never reads or writes the response cache (canary probes: always a fresh verdict, never reused).</summary>
    public Task<JudgeOutcome<PointwiseVerdict>> ScoreUncachedAsync(string question, string? reference, string candidate, CancellationToken cancellationToken = default)
        => JudgeAsync(JudgeTemplates.Pointwise(question, reference, candidate, _options.Scale, dense: false),
            r => JudgeTemplates.ParsePointwise(r, _options.Scale, dense: false), useCache: false, cancellationToken);

    /// <summary>A pairwise comparison that never reads or writes the response cache (canary probes).</summary>
    public Task<JudgeOutcome<PairwiseVerdict>> CompareUncachedAsync(string question, string? reference, string a, string b, CancellationToken cancellationToken = default)
        => JudgeAsync(JudgeTemplates.Pairwise(question, reference, a, b), JudgeTemplates.ParsePairwise, useCache: false, cancellationToken);

    private async Task<JudgeOutcome<T>> JudgeAsync<T>(JudgePrompt prompt, Func<JudgeReply, JudgeParse<T>> parse, bool useCache, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(parse);
        cancellationToken.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        string? cacheKey = null;
        if (_cache is not null && useCache)
        {
            cacheKey = $"{_options.Model}\u0000{_options.Temperature.ToString("R", CultureInfo.InvariantCulture)}\u0000{_options.MaxTokens}\u0000{prompt.CacheKey}";
            if (_cache.TryGet(cacheKey, out var hit) && hit is T cached)
            {
                _counters.Hit();
                return new JudgeOutcome<T>(cached, null, null, Stopwatch.GetElapsedTime(started), Cached: true);
            }
            _counters.Miss();
        }
        _counters.Request();
        var body = RequestBody(prompt);
        var tokens = (prompt.System.Length + prompt.User.Length) / 4 + _options.MaxTokens;
        var outcome = await SendAsync(body, tokens, text => ReadCompletion(text) is { } reply
            ? parse(reply)
            : JudgeParse<T>.Bad(CriticFailure.Parse, $"response body is not a chat completion: {JudgeTemplates.Clip(text)}"), started, cancellationToken).ConfigureAwait(false);
        if (outcome.Ok && cacheKey is not null) _cache!.Set(cacheKey, outcome.Value!);
        return outcome;
    }

    /// <summary>
    /// POSTs a JSON body of the caller's own protocol (a remote reward server's) to <see cref="Endpoint"/> through the same
    /// limiters, retries, breaker and timeouts as a judge call, and parses the body with <paramref name="parseBody"/>; no
    /// response cache. Never throws for server or transport problems (a failure reason instead); only for cancellation.
    /// </summary>
    public Task<JudgeOutcome<T>> PostAsync<T>(byte[] body, int estimatedTokens, Func<string, JudgeParse<T>> parseBody, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(parseBody);
        cancellationToken.ThrowIfCancellationRequested();
        _counters.Request();
        return SendAsync(body, estimatedTokens, parseBody, Stopwatch.GetTimestamp(), cancellationToken);
    }

    private async Task<JudgeOutcome<T>> SendAsync<T>(byte[] body, int tokens, Func<string, JudgeParse<T>> parseBody, long started, CancellationToken cancellationToken)
        where T : class
    {
        JudgeOutcome<T> Fail(CriticFailure reason, string detail)
        {
            _counters.Fail(reason);
            return new JudgeOutcome<T>(null, reason, Redact(detail), Stopwatch.GetElapsedTime(started), Cached: false);
        }

        var trace = new CallTrace();
        Attempt attempt;
        try
        {
            attempt = await _pipeline.ExecuteAsync(
                static (state, ct) => state.Self.SendOnceAsync(state.Body, state.Tokens, state.Trace, ct),
                (Self: this, Body: body, Tokens: tokens, Trace: trace), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _counters.Cancel();
            throw;
        }
        catch (BrokenCircuitException) when (trace.Failure is { } cause)
        {
            // This call's own attempts failed (and helped open the breaker), so its cause is what it reports, not breaker-open.
            return Fail(cause, $"{trace.Detail}; not retried: the circuit breaker then opened");
        }
        catch (BrokenCircuitException)
        {
            if (Interlocked.Exchange(ref _failFastReported, 1) == 0)
                _log?.Invoke("critic: circuit breaker is open: failing judge calls fast (counted as breaker-open)");
            return Fail(CriticFailure.BreakerOpen, "circuit breaker open: failed fast without a request");
        }
        catch (TimeoutRejectedException)
        {
            return Fail(CriticFailure.Timeout, $"no complete answer within {_options.Timeout.TotalSeconds:0.###} s" +
                                               (_options.MaxRetries > 0 ? $" (after {_options.MaxRetries} retries or a non-retryable outcome)" : ""));
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException or InvalidOperationException)
        {
            return Fail(CriticFailure.Transport, $"{e.GetType().Name}: {e.Message}");
        }

        if (attempt.TooLarge is { } tooLarge) return Fail(CriticFailure.TooLarge, $"HTTP {attempt.Status}: {tooLarge}");
        if (attempt.Status == 429) return Fail(CriticFailure.Http429, $"HTTP 429: {JudgeTemplates.Clip(attempt.Body)}");
        if (attempt.Status >= 500) return Fail(CriticFailure.Http5xx, $"HTTP {attempt.Status}: {JudgeTemplates.Clip(attempt.Body)}");
        if (attempt.Status is < 200 or >= 300) return Fail(CriticFailure.Http4xx, $"HTTP {attempt.Status}: {JudgeTemplates.Clip(attempt.Body)}");

        JudgeParse<T> parsed;
        try
        {
            parsed = parseBody(attempt.Body);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            parsed = JudgeParse<T>.Bad(CriticFailure.Parse, $"parser failed: {e.GetType().Name}: {e.Message}");
        }
        if (!parsed.Ok) return Fail(parsed.Failure ?? CriticFailure.Parse, parsed.Detail ?? "no verdict");

        _counters.Success();
        return new JudgeOutcome<T>(parsed.Value, null, null, Stopwatch.GetElapsedTime(started), Cached: false);
    }

    /// <summary>One HTTP attempt: buckets, then an in-flight slot, then send + read under the per-attempt timeout.</summary>
    private async ValueTask<Attempt> SendOnceAsync(byte[] body, int tokens, CallTrace trace, CancellationToken cancellationToken)
    {
        using var requestPermit = _requestBucket is null ? null : await Acquire(_requestBucket, 1, cancellationToken).ConfigureAwait(false);
        // A request larger than the bucket takes the whole bucket (acquiring more than the limit would never succeed).
        using var tokenPermit = _tokenBucket is null ? null
            : await Acquire(_tokenBucket, Math.Min(tokens, _tokenBucketLimit), cancellationToken).ConfigureAwait(false);
        using var slot = await Acquire(_slots, 1, cancellationToken).ConfigureAwait(false);
        _counters.Attempt();
        try
        {
            var attempt = await _timeout.ExecuteAsync(
                static (state, ct) => state.Self.PostAsync(state.Body, ct),
                (Self: this, Body: body), cancellationToken).ConfigureAwait(false);
            if (attempt.Status == 429 || attempt.Status >= 500)
            {
                trace.Failure = attempt.Status == 429 ? CriticFailure.Http429 : CriticFailure.Http5xx;
                trace.Detail = $"HTTP {attempt.Status}: {JudgeTemplates.Clip(attempt.Body)}";
            }
            return attempt;
        }
        catch (TimeoutRejectedException)
        {
            trace.Failure = CriticFailure.Timeout;
            trace.Detail = $"no complete answer within {_options.Timeout.TotalSeconds:0.###} s";
            throw;
        }
        catch (Exception e) when (e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            trace.Failure = CriticFailure.Transport;
            trace.Detail = $"{e.GetType().Name}: {e.Message}";
            throw;
        }
    }

    private static async ValueTask<RateLimitLease> Acquire(RateLimiter limiter, int permits, CancellationToken cancellationToken)
    {
        var lease = await limiter.AcquireAsync(permits, cancellationToken).ConfigureAwait(false);
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            throw new HttpRequestException("critic: local rate-limiter queue is full");
        }
        return lease;
    }

    private async ValueTask<Attempt> PostAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = JsonType;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        // Headers only: the body is read below as a stream with a hard cap, never buffered whole first.
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        TimeSpan? retryAfter = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow,
            _ => null,
        };
        if (retryAfter < TimeSpan.Zero) retryAfter = TimeSpan.Zero;
        var status = (int)response.StatusCode;
        var cap = (int)_options.MaxResponseBytes;
        if (response.Content.Headers.ContentLength is { } declared && declared > cap)
            return new Attempt(status, "", retryAfter, $"Content-Length {declared} bytes exceeds max-response-bytes = {cap}; the body was not read");
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var text = await ReadCappedAsync(stream, cap, cancellationToken).ConfigureAwait(false);
            return text is null
                ? new Attempt(status, "", retryAfter, $"the body ran past max-response-bytes = {cap} bytes; the rest was not read")
                : new Attempt(status, text, retryAfter);
        }
    }

    /// <summary>Reads a body of at most <paramref name="cap"/> bytes into pooled chunks and decodes it (UTF-8); null as soon as it runs past the cap.</summary>
    private static async ValueTask<string?> ReadCappedAsync(Stream stream, int cap, CancellationToken cancellationToken)
    {
        var chunks = new List<byte[]>();
        var total = 0;
        var filled = 0; // bytes used in the last chunk
        try
        {
            while (true)
            {
                if (chunks.Count == 0 || filled == ReadChunk)
                {
                    chunks.Add(ArrayPool<byte>.Shared.Rent(ReadChunk));
                    filled = 0;
                }
                var last = chunks[^1];
                var n = await stream.ReadAsync(last.AsMemory(filled, ReadChunk - filled), cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                filled += n;
                total += n;
                if (total > cap) return null;
            }
            if (chunks.Count == 1) return Encoding.UTF8.GetString(chunks[0], 0, total);
            var whole = ArrayPool<byte>.Shared.Rent(total);
            try
            {
                var at = 0;
                for (var i = 0; i < chunks.Count; i++)
                {
                    var length = i == chunks.Count - 1 ? filled : ReadChunk;
                    Buffer.BlockCopy(chunks[i], 0, whole, at, length);
                    at += length;
                }
                return Encoding.UTF8.GetString(whole, 0, total);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(whole);
            }
        }
        finally
        {
            foreach (var chunk in chunks) ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private byte[] RequestBody(JudgePrompt prompt)
    {
        var buffer = new ArrayBufferWriter<byte>(prompt.User.Length + prompt.System.Length + 256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", _options.Model);
            w.WriteStartArray("messages");
            w.WriteStartObject();
            w.WriteString("role", "system");
            w.WriteString("content", prompt.System);
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("role", "user");
            w.WriteString("content", prompt.User);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteNumber("temperature", _options.Temperature);
            w.WriteNumber("max_tokens", _options.MaxTokens);
            if (_options.JsonResponseFormat)
            {
                w.WriteStartObject("response_format");
                w.WriteString("type", "json_object");
                w.WriteEndObject();
            }
            w.WriteBoolean("stream", false);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>choices[0].message.content / refusal and finish_reason of a chat completion; null when the body is not one.</summary>
    internal static JudgeReply? ReadCompletion(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("choices", out var choices)
                || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
                return null;
            var choice = choices[0];
            if (choice.ValueKind != JsonValueKind.Object) return null;
            var finish = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (!choice.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
                return choice.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? new JudgeReply(t.GetString(), finish) : null;
            string? content = null;
            if (message.TryGetProperty("content", out var c))
            {
                switch (c.ValueKind)
                {
                    case JsonValueKind.String:
                        content = c.GetString();
                        break;
                    case JsonValueKind.Null:
                        break;
                    case JsonValueKind.Array: // content parts: [{"type": "text", "text": "..."}]
                        var sb = new StringBuilder();
                        foreach (var part in c.EnumerateArray())
                            if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var pt) && pt.ValueKind == JsonValueKind.String)
                                sb.Append(pt.GetString());
                        content = sb.ToString();
                        break;
                    default:
                        return null;
                }
            }
            var refusal = message.TryGetProperty("refusal", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
            return new JudgeReply(content, finish, refusal);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool IsTransient(Outcome<Attempt> outcome) => outcome switch
    {
        { Exception: HttpRequestException or TimeoutRejectedException or IOException } => true,
        { Exception: null, Result: { } r } => r.Status == 429 || r.Status >= 500,
        _ => false,
    };

    /// <summary>The failure reason of an outcome the breaker counted (timeout, http-429, http-5xx or transport).</summary>
    private static CriticFailure Classify(Outcome<Attempt> outcome) => outcome switch
    {
        { Exception: TimeoutRejectedException } => CriticFailure.Timeout,
        { Exception: not null } => CriticFailure.Transport,
        { Result.Status: 429 } => CriticFailure.Http429,
        _ => CriticFailure.Http5xx,
    };

    private static string Describe(Outcome<Attempt> outcome) => outcome switch
    {
        { Exception: TimeoutRejectedException } => "timeout",
        { Exception: { } e } => e.GetType().Name,
        { Result: { } r } => $"HTTP {r.Status}",
        _ => "unknown",
    };

    private string Redact(string text)
        => _apiKey is { Length: > 0 } key ? text.Replace(key, "***", StringComparison.Ordinal) : text;

    private static (TokenBucketRateLimiter? Bucket, int Limit) Bucket(int perMinute)
    {
        if (perMinute <= 0) return (null, 0);
        // Refill about ten times a second; the bucket holds one second's worth (at least one refill).
        var perRefill = Math.Max(1, (int)Math.Round(perMinute / 600.0));
        var limit = Math.Max(perRefill, (int)Math.Ceiling(perMinute / 60.0));
        var bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = perRefill,
            ReplenishmentPeriod = TimeSpan.FromSeconds(60.0 * perRefill / perMinute),
            QueueLimit = 1_000_000_000,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        });
        return (bucket, limit);
    }

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
        _requestBucket?.Dispose();
        _tokenBucket?.Dispose();
    }
}
