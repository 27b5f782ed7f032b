using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.Rewards.Tests.Critic;

/// <summary>
/// A real Kestrel server on 127.0.0.1 (free port) playing an OpenAI-compatible judge, scripted per test: the script sees each
/// request (with its 0-based index) and returns the reply. Records requests, arrival times and the most requests in flight at once.
/// </summary>
public sealed class ScriptedJudgeServer : IAsyncDisposable
{
    public sealed record Received(int Index, string Body, string? Authorization, string System, string User, TimeSpan At);

    public sealed record Reply(int Status, string Body, TimeSpan Delay = default, IReadOnlyDictionary<string, string>? Headers = null);

    private readonly WebApplication _app;
    private readonly Func<Received, Reply> _script;
    private readonly ConcurrentQueue<Received> _received = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _count, _inFlight, _maxInFlight;

    private ScriptedJudgeServer(WebApplication app, Func<Received, Reply> script)
    {
        _app = app;
        _script = script;
    }

    public string BaseUrl { get; private set; } = "";
    public int Count => Volatile.Read(ref _count);
    public int MaxConcurrent => Volatile.Read(ref _maxInFlight);
    public IReadOnlyList<Received> Requests => _received.OrderBy(r => r.Index).ToList();

    /// <summary>A 200 chat completion whose message content is <paramref name="content"/> (null: JSON null).</summary>
    public static Reply Chat(string? content, string finishReason = "stop", TimeSpan delay = default)
    {
        var body = JsonSerializer.Serialize(new
        {
            id = "chatcmpl-test",
            @object = "chat.completion",
            model = "scripted",
            choices = new[] { new { index = 0, message = new { role = "assistant", content }, finish_reason = finishReason } },
        });
        return new Reply(200, body, delay);
    }

    public static Reply Status(int status, string body = "{\"error\": {\"message\": \"scripted\"}}", IReadOnlyDictionary<string, string>? headers = null)
        => new(status, body, default, headers);

    public static async Task<ScriptedJudgeServer> StartAsync(Func<Received, Reply> script)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddSingleton<IHostLifetime, NoLifetime>(); // leave the test host's signals alone
        var app = builder.Build();
        var server = new ScriptedJudgeServer(app, script);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = address.TrimEnd('/') + "/v1";
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var now = Interlocked.Increment(ref _inFlight);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
        try
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            string system = "", user = "";
            try
            {
                using var doc = JsonDocument.Parse(body);
                foreach (var m in doc.RootElement.GetProperty("messages").EnumerateArray())
                {
                    var role = m.GetProperty("role").GetString();
                    var content = m.GetProperty("content").GetString() ?? "";
                    if (role == "system") system = content;
                    if (role == "user") user = content;
                }
            }
            catch (Exception) { /* the script decides */ }
            var received = new Received(Interlocked.Increment(ref _count) - 1, body, context.Request.Headers.Authorization.FirstOrDefault(),
                system, user, _clock.Elapsed);
            _received.Enqueue(received);
            var reply = _script(received);
            if (reply.Delay > TimeSpan.Zero)
            {
                try { await Task.Delay(reply.Delay, context.RequestAborted); }
                catch (OperationCanceledException) { return; }
            }
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            if (reply.Headers is not null)
                foreach (var (k, v) in reply.Headers) context.Response.Headers[k] = v;
            if (reply.Body.Length <= StreamedChunkChars) await context.Response.WriteAsync(reply.Body, context.RequestAborted);
            else await WriteStreamedAsync(context.Response, reply.Body, context.RequestAborted);
        }
        catch (OperationCanceledException) { }
        catch (IOException) { } // the client hung up on a long body
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private const int StreamedChunkChars = 16 * 1024;

    /// <summary>A long body goes out in flushed 16 K-char pieces through one reused buffer, so the server itself never holds it whole
    /// (Kestrel buffers a single large write completely, which would swamp allocation measurements of the client).</summary>
    private static async Task WriteStreamedAsync(HttpResponse response, string body, CancellationToken ct)
    {
        var buffer = new byte[Encoding.UTF8.GetMaxByteCount(StreamedChunkChars)];
        for (var at = 0; at < body.Length; at += StreamedChunkChars)
        {
            var n = Encoding.UTF8.GetBytes(body.AsSpan(at, Math.Min(StreamedChunkChars, body.Length - at)), buffer);
            await response.Body.WriteAsync(buffer.AsMemory(0, n), ct);
        }
    }

    private sealed class NoLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
