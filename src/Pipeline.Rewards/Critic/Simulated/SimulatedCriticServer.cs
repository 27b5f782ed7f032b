using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.Rewards.Critic.Simulated;

/// <summary>Request counts of a <see cref="SimulatedCriticServer"/>.</summary>
public sealed record SimulatedCriticStats(long ChatRequests, long Answered, long Declined, long Injected500, long Injected429, long BadRequests);

/// <summary>
/// A simulated LLM judge behind a real Kestrel server, speaking the OpenAI chat-completions API the critic client uses:
/// <c>POST /v1/chat/completions</c> (also <c>/chat/completions</c>) and <c>GET /v1/models</c>. It judges from ground truth through an
/// <see cref="ISimulatedOracle"/> (<see cref="SimulatedJudge"/>), after a drawn latency, with Gaussian noise and a configurable rate of
/// injected 500 / 429 errors. Everything it says is marked simulated: the model id <c>critic-sim/&lt;oracle&gt;</c>, the
/// <c>X-Critic-Simulated: true</c> header, the first line of every answer, and every log line. A hostile mode
/// (<see cref="SimulatedCriticOptions.Hostile"/>) plays a broken judge, and says so in the model id and every answer.
/// </summary>
public sealed class SimulatedCriticServer : IAsyncDisposable
{
    public const string SimulatedHeader = "X-Critic-Simulated";

    private readonly WebApplication _app;
    private readonly SimulatedCriticOptions _options;
    private readonly SimulatedJudge _judge;
    private readonly Action<string>? _log;
    private long _chat, _answered, _declined, _e500, _e429, _bad;
    private int _stopped;

    private SimulatedCriticServer(WebApplication app, SimulatedCriticOptions options, SimulatedJudge judge, Action<string>? log)
    {
        _app = app;
        _options = options;
        _judge = judge;
        _log = log;
    }

    /// <summary>The model id the server reports: <c>critic-sim/&lt;oracle name&gt;</c>.</summary>
    public string Model => "critic-sim/" + _judge.Oracle.Name + (_judge.Hostile == SimulatedHostility.None ? "" : "/hostile-" + SimulatedJudge.Key(_judge.Hostile));

    /// <summary>The addresses Kestrel bound (real ports when port 0 was asked).</summary>
    public IReadOnlyList<string> Urls { get; private set; } = [];

    /// <summary>The first bound address plus <c>/v1</c>: what goes into the critic's <c>base-url</c>.</summary>
    public string BaseUrl => Urls[0].TrimEnd('/') + "/v1";

    public SimulatedCriticStats Stats => new(Interlocked.Read(ref _chat), Interlocked.Read(ref _answered), Interlocked.Read(ref _declined),
        Interlocked.Read(ref _e500), Interlocked.Read(ref _e429), Interlocked.Read(ref _bad));

    /// <summary>Starts listening on <see cref="SimulatedCriticOptions.Urls"/>; <paramref name="oracle"/> defaults to <see cref="ExactMatchOracle"/>.</summary>
    public static async Task<SimulatedCriticServer> StartAsync(SimulatedCriticOptions options, ISimulatedOracle? oracle = null,
        Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var judge = new SimulatedJudge(oracle ?? new ExactMatchOracle(), options.Noise, options.Seed, options.Hostile);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "critic-sim" });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseUrls(options.Urls);
        // Not the default ConsoleLifetime: it would take over the host process's SIGINT/SIGTERM (and swallow them, since
        // nobody waits on the application lifetime after StartAsync). The owner stops the server with StopAsync/DisposeAsync.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        builder.Services.AddLogging(l =>
        {
            l.ClearProviders();
            l.SetMinimumLevel(LogLevel.Warning);
            if (log is not null) l.AddProvider(new SimulatedLogProvider(log));
        });
        var app = builder.Build();
        var server = new SimulatedCriticServer(app, options, judge, log);
        app.Run(server.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        server.Urls = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];
        if (server.Urls.Count == 0) server.Urls = [options.Urls.Split(';')[0]];
        log?.Invoke($"critic-sim (simulated judge) listening on {string.Join(", ", server.Urls)}: model {server.Model}, " +
                    $"latency {options.LatencyDistribution.ToString().ToLowerInvariant()} {options.Latency.TotalMilliseconds:0} ms " +
                    $"(spread {options.LatencySpread.TotalMilliseconds:0} ms), noise {options.Noise}, error-rate {options.ErrorRate}, seed {options.Seed}. " +
                    "Scores are SIMULATED from ground truth, not from a language model." +
                    (options.Hostile == SimulatedHostility.None ? "" : $" HOSTILE (simulated) mode {SimulatedJudge.Key(options.Hostile)}: " +
                        "it judges wrongly on purpose, so the critic's canary probes can be seen catching it."));
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers[SimulatedHeader] = "true";
        var path = (request.Path.Value ?? "").TrimEnd('/');
        try
        {
            if (HttpMethods.IsPost(request.Method) && path is "/v1/chat/completions" or "/chat/completions")
            {
                await ChatAsync(context).ConfigureAwait(false);
                return;
            }
            if (HttpMethods.IsGet(request.Method) && path is "/v1/models" or "/models")
            {
                await WriteJsonAsync(response, 200, w =>
                {
                    w.WriteString("object", "list");
                    w.WriteStartArray("data");
                    w.WriteStartObject();
                    w.WriteString("id", Model);
                    w.WriteString("object", "model");
                    w.WriteNumber("created", 0);
                    w.WriteString("owned_by", "simulated");
                    w.WriteEndObject();
                    w.WriteEndArray();
                }, context.RequestAborted).ConfigureAwait(false);
                return;
            }
            if (HttpMethods.IsGet(request.Method) && path is "" or "/health")
            {
                response.ContentType = "text/plain";
                await response.WriteAsync($"critic-sim: simulated judge ({Model}) is up\n", context.RequestAborted).ConfigureAwait(false);
                return;
            }
            await ErrorAsync(response, 404, $"simulated critic: no route for {request.Method} {path}", context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // the client went away (its timeout); nothing to answer
        }
    }

    private async Task ChatAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        Interlocked.Increment(ref _chat);
        string? user = null;
        try
        {
            using var doc = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: ct).ConfigureAwait(false);
            if (doc.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
                foreach (var m in messages.EnumerateArray())
                    if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("role", out var role) && role.GetString() == "user"
                        && m.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                        user = content.GetString();
        }
        catch (JsonException)
        {
            user = null;
        }
        if (user is null)
        {
            Interlocked.Increment(ref _bad);
            _log?.Invoke("critic-sim (simulated): bad request: no user message in a JSON chat-completions body");
            await ErrorAsync(context.Response, 400, "simulated critic: expected a JSON chat-completions body with a user message", ct).ConfigureAwait(false);
            return;
        }

        var delay = DrawLatency();
        if (delay > TimeSpan.Zero) await Task.Delay(delay, ct).ConfigureAwait(false);

        if (_options.ErrorRate > 0 && _judge.NextDouble() < _options.ErrorRate)
        {
            if (_judge.NextDouble() < _options.TooManyRequestsShare)
            {
                Interlocked.Increment(ref _e429);
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling(_options.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ErrorAsync(context.Response, 429, "simulated critic: injected rate limit (429)", ct).ConfigureAwait(false);
            }
            else
            {
                Interlocked.Increment(ref _e500);
                await ErrorAsync(context.Response, 500, "simulated critic: injected server error (500)", ct).ConfigureAwait(false);
            }
            return;
        }

        var answer = _judge.Answer(user);
        Interlocked.Increment(ref answer.Known ? ref _answered : ref _declined);
        var promptTokens = user.Length / 4;
        var completionTokens = answer.Content.Length / 4;
        await WriteJsonAsync(context.Response, 200, w =>
        {
            w.WriteString("id", "chatcmpl-sim-" + Guid.NewGuid().ToString("N")[..12]);
            w.WriteString("object", "chat.completion");
            w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            w.WriteString("model", Model);
            w.WriteString("system_fingerprint", "simulated");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", answer.Content);
            w.WriteEndObject();
            w.WriteString("finish_reason", "stop");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartObject("usage");
            w.WriteNumber("prompt_tokens", promptTokens);
            w.WriteNumber("completion_tokens", completionTokens);
            w.WriteNumber("total_tokens", promptTokens + completionTokens);
            w.WriteEndObject();
        }, ct).ConfigureAwait(false);
    }

    private TimeSpan DrawLatency()
    {
        var mean = _options.Latency.TotalMilliseconds;
        var spread = _options.LatencySpread.TotalMilliseconds;
        if (mean <= 0 && spread <= 0) return TimeSpan.Zero;
        double ms = _options.LatencyDistribution switch
        {
            LatencyDistribution.Uniform => mean + spread * (2 * _judge.NextDouble() - 1),
            LatencyDistribution.LogNormal when mean > 0 && spread > 0 => LogNormal(mean, spread),
            _ => mean,
        };
        return TimeSpan.FromMilliseconds(Math.Max(0, ms));
    }

    private double LogNormal(double mean, double sd)
    {
        var sigma2 = Math.Log(1 + sd * sd / (mean * mean));
        var mu = Math.Log(mean) - sigma2 / 2;
        return Math.Exp(mu + Math.Sqrt(sigma2) * _judge.NextGaussian());
    }

    private static Task ErrorAsync(HttpResponse response, int status, string message, CancellationToken ct)
        => WriteJsonAsync(response, status, w =>
        {
            w.WriteStartObject("error");
            w.WriteString("message", message);
            w.WriteString("type", status == 429 ? "rate_limit_exceeded" : status >= 500 ? "server_error" : "invalid_request_error");
            w.WriteBoolean("simulated", true);
            w.WriteEndObject();
        }, ct);

    private static async Task WriteJsonAsync(HttpResponse response, int status, Action<Utf8JsonWriter> body, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory, ct).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        var s = Stats;
        _log?.Invoke($"critic-sim (simulated judge) stopped: {s.ChatRequests} chat requests, {s.Answered} answered, {s.Declined} declined, " +
                     $"{s.Injected500} injected 500, {s.Injected429} injected 429, {s.BadRequests} bad requests");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Forwards ASP.NET Core's own warnings and errors, each line marked simulated.</summary>
    private sealed class SimulatedLogProvider(Action<string> log) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(log, categoryName);
        public void Dispose() { }

        private sealed class Logger(Action<string> log, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (!IsEnabled(logLevel)) return;
                log($"critic-sim (simulated) {logLevel.ToString().ToLowerInvariant()} [{category}]: {formatter(state, exception)}" +
                    (exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})"));
            }
        }
    }
}
