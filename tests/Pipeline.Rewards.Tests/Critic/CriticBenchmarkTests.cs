using Pipeline.Rewards.Critic;
using Xunit.Abstractions;

namespace Pipeline.Rewards.Tests.Critic;

public sealed class CriticBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Long")]
    public async Task Client_throughput_against_the_in_process_simulated_judge()
    {
        var results = await CriticBenchmark.RunAsync(2000, [1, 8, 64]);
        foreach (var r in results)
            output.WriteLine($"concurrency {r.Concurrency,3}: {r.RequestsPerSecond,8:0} req/s  ({r.Requests} in {r.Seconds:0.00} s, p50 {r.P50Ms:0.00} ms, p99 {r.P99Ms:0.00} ms)");
        Assert.Equal([1, 8, 64], results.Select(r => r.Concurrency).ToArray());
        Assert.All(results, r => Assert.Equal(r.Requests, r.Successes));
        Assert.All(results, r => Assert.True(r.RequestsPerSecond > 0));
    }
}
