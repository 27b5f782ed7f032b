using System.Diagnostics;
using Pipeline.Rewards.Critic.Simulated;

namespace Pipeline.Rewards.Critic;

/// <summary>One measured concurrency level.</summary>
/// <param name="Concurrency">Calls kept in flight by the benchmark (and the client's in-flight limit).</param>
/// <param name="Requests">Judge calls made.</param>
/// <param name="Successes">Calls that came back with a valid verdict (all of them, with the error-free simulated server).</param>
/// <param name="Seconds">Wall time of the measured calls.</param>
/// <param name="RequestsPerSecond">Requests / Seconds.</param>
/// <param name="P50Ms">Median call latency, ms.</param>
/// <param name="P99Ms">99th-percentile call latency, ms.</param>
public sealed record CriticBenchmarkResult(int Concurrency, int Requests, long Successes, double Seconds, double RequestsPerSecond, double P50Ms, double P99Ms);

/// <summary>
/// Client overhead/throughput: starts the simulated judge in-process (127.0.0.1, free port, zero latency, no errors, exact oracle)
/// and measures judge calls per second at each concurrency, through the full client path (templates, limiter, Polly pipeline,
/// HTTP, parsing). The response cache is off, every candidate is distinct.
/// </summary>
public static class CriticBenchmark
{
    public static async Task<IReadOnlyList<CriticBenchmarkResult>> RunAsync(int requests, int[] concurrencies, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(requests, 1);
        ArgumentNullException.ThrowIfNull(concurrencies);
        await using var server = await SimulatedCriticServer.StartAsync(new SimulatedCriticOptions { Urls = "http://127.0.0.1:0" },
            new ExactMatchOracle(), cancellationToken: cancellationToken).ConfigureAwait(false);
        var results = new List<CriticBenchmarkResult>();
        foreach (var concurrency in concurrencies)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
            using var client = new OpenAiCriticClient(new CriticOptions
            {
                BaseUrl = server.BaseUrl,
                Model = "bench",
                Concurrency = concurrency,
                CacheEntries = 0,
                MaxRetries = 0,
                Timeout = TimeSpan.FromSeconds(30),
            });
            // Warm-up: connections, JIT.
            await Drive(client, Math.Min(requests, Math.Max(20, concurrency * 2)), concurrency, "warm", cancellationToken).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            var (latencies, ok) = await Drive(client, requests, concurrency, "run", cancellationToken).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            Array.Sort(latencies);
            results.Add(new CriticBenchmarkResult(concurrency, requests, ok, seconds, requests / seconds,
                latencies[latencies.Length / 2], latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))]));
        }
        return results;
    }

    private static async Task<(double[] LatenciesMs, long Successes)> Drive(OpenAiCriticClient client, int requests, int concurrency, string tag,
        CancellationToken cancellationToken)
    {
        var latencies = new double[requests];
        long ok = 0;
        var next = -1;
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                var started = Stopwatch.GetTimestamp();
                var outcome = await client.ScoreAsync("SELECT the answer", "SELECT 42", $"SELECT {i} -- {tag}", cancellationToken).ConfigureAwait(false);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (outcome.Ok) Interlocked.Increment(ref ok);
            }
        }).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        return (latencies, ok);
    }
}
