using Pipeline.Rewards.Similarity;
using Xunit.Abstractions;

namespace Pipeline.Rewards.Tests.Similarity;

public sealed class SimilarityBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Long")]
    public void Similarity_reward_throughput_is_at_least_90_percent_of_raw_onnx_runtime()
    {
        var result = SimilarityBenchmark.Run(sentences: 512, batchSize: 32);
        output.WriteLine(result.ToString());
        Console.WriteLine(result.ToString());
        Assert.True(result.RawSentencesPerSecond > 0);
        Assert.True(result.Ratio >= 0.9, result.ToString());
    }
}
