using Pipeline.Learning.Model;
using Pipeline.Learning.Sft;

namespace Pipeline.Learning.Tests;

public class SftTrainerSpec
{
    private const int Eos = 1;

    private static readonly SftExample[] Data =
    {
        new(new[] { 2, 3 }, new[] { 10, 11, 12, Eos }),
        new(new[] { 2, 4 }, new[] { 13, 14, Eos }),
        new(new[] { 2, 5, 6 }, new[] { 15, 10, 16, 17, Eos }),
        new(new[] { 2, 7 }, new[] { 18, Eos }),
    };

    [Fact]
    public void Sft_must_memorise_a_tiny_dataset()
    {
        using var policy = new PolicyModel(TinyPolicy.Config with { DModel = 32 }, seed: 1);
        using var trainer = new SftTrainer(policy, learningRate: 1e-2, weightDecay: 0.0);
        var initial = trainer.Evaluate(Data);
        Assert.True(initial > 2.0, $"an untrained model should be near ln(V) = {Math.Log(24):F2}, was {initial}");
        var last = double.NaN;
        for (var step = 0; step < 150 && !(last < 0.05); step++) last = trainer.Step(Data);
        var final = trainer.Evaluate(Data, batchSize: 3);
        Assert.True(final < 0.1, $"loss {initial:F3} -> {final:F3}");
    }

    [Fact]
    public void The_loss_must_ignore_prompt_tokens()
    {
        using var policy = TinyPolicy.Create(seed: 2);
        using var trainer = new SftTrainer(policy, learningRate: 1e-3);
        var a = new SftExample(new[] { 2, 3, 4, 5 }, new[] { 6, Eos });
        var expected = -TinyPolicy.CompletionLogProbs(policy, a.PromptTokens, a.CompletionTokens, 1.0).Average();
        Assert.Equal(expected, trainer.Evaluate(new[] { a }), 4);
    }

    [Fact]
    public void Evaluate_must_be_token_weighted_across_batches()
    {
        using var policy = TinyPolicy.Create(seed: 2);
        using var trainer = new SftTrainer(policy, learningRate: 1e-3);
        var whole = trainer.Evaluate(Data, batchSize: 64);
        var split = trainer.Evaluate(Data, batchSize: 1);
        Assert.Equal(whole, split, 4);
    }
}
