using Pipeline.Core.Configuration;
using System.Collections.Immutable;
using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Pipeline.Testing;

namespace Pipeline.Runtime.Tests;

/// <summary>
/// A real generator (a small policy sampled on its pinned thread) against probes for the buffer, the annotation stage and
/// the weights source: a credit whose group needs newer weights than the generator holds is held until they come, or
/// until the wait runs out. On virtual time (the kit's loop runs the pinned dispatcher too): the hold is measured exactly.
/// </summary>
public class GeneratorSpec : VirtualTimeTestKit
{

    private static readonly PolicyTokenizer Tokenizer = PolicyTokenizer.Train(
        ["How many customers live in Lyon?", "SELECT COUNT(*) FROM customers WHERE city = 'Lyon';"], 80);
    private static readonly PolicyFactory Policy = PolicyFactory.Builtin(new PolicySettings(0, DModel: 32, Layers: 1, Heads: 2, Context: 64), Tokenizer.VocabSize);
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);

    private VirtualProbe _buffer = null!, _annotator = null!, _weights = null!;

    private (IActorRef Generator, Generator.Counter Counter) Start(TimeSpan weightsWait)
    {
        (_buffer, _annotator, _weights) = (CreateTestProbe("buffer"), CreateTestProbe("annotator"), CreateTestProbe("weights"));
        var counter = new Generator.Counter();
        var sampling = new SamplingSettings(1.0, 1.0, MaxTokens: 6, [Tokenizer.Eos]);
        var settings = new Generator.Settings(1, "g", Policy, sampling, GroupSize: 2, Seed: 5, weightsWait) { Clock = Time };
        var generator = Sys.ActorOf(Generator.Props(settings, Tokenizer, _buffer.Ref, _annotator.Ref, _weights.Ref, counter));
        _weights.ExpectMsg<RequestLatestWeights>(Soon);
        return (generator, counter);
    }

    private static PolicyWeights Weights(long version)
    {
        using var model = Policy.Create(seed: version);
        return new PolicyWeights(WeightTransfer.Export(model, version));
    }

    private static PromptAssigned PromptFor(long creditId)
        => new(new Prompt($"p{creditId}", "How many customers live in Lyon?", null, ImmutableDictionary<string, string>.Empty), creditId, creditId);

    /// <summary>Weights of <paramref name="version"/>, then the generator asks for its first credit.</summary>
    private void Ready(IActorRef generator, long version)
    {
        generator.Tell(Weights(version));
        _buffer.ExpectMsg<RequestCredit>(Soon);
    }

    [Fact]
    public void A_credit_that_needs_newer_weights_is_held_until_they_arrive_and_sampled_with_them()
    {
        var (generator, counter) = Start(TimeSpan.FromSeconds(30));
        Ready(generator, version: 1);

        generator.Tell(new Credit(1, LearnerVersion: 2, MinPolicyVersion: 2));
        generator.Tell(PromptFor(1));
        _annotator.ExpectNoMsg(TimeSpan.FromMilliseconds(800));  // sampling with v1 would waste the group

        generator.Tell(Weights(2));
        var group = _annotator.ExpectMsg<GeneratedGroup>(Soon);
        Assert.Equal(1, group.CreditId);
        Assert.Equal(2, group.Group.PolicyVersion);
        Assert.All(group.Group.Rollouts, r => Assert.Equal(2, r.PolicyVersion));
        Assert.Equal(1, counter.Waited);
        Assert.Equal(TimeSpan.FromMilliseconds(800), counter.WaitedFor);  // from the credit to the weights, in virtual time
        Assert.Equal(0, counter.SampledOld);
    }

    [Fact]
    public void When_no_newer_weights_come_within_the_wait_the_group_is_sampled_with_the_old_ones()
    {
        var (generator, counter) = Start(TimeSpan.FromMilliseconds(600));
        Ready(generator, version: 1);

        var held = Now;
        generator.Tell(new Credit(1, LearnerVersion: 5, MinPolicyVersion: 5));
        generator.Tell(PromptFor(1));
        _annotator.ExpectNoMsg(TimeSpan.FromMilliseconds(400));
        var group = _annotator.ExpectMsg<GeneratedGroup>(Soon);
        Assert.Equal(TimeSpan.FromMilliseconds(600), _annotator.LastReceived!.At - held);  // exactly the wait, then the old weights
        Assert.Equal(1, group.Group.PolicyVersion);
        Assert.Equal(1, counter.SampledOld);
        Assert.Equal(0, counter.Waited);
    }

    [Fact]
    public void A_credit_the_weights_are_fresh_enough_for_is_sampled_at_once()
    {
        var (generator, counter) = Start(TimeSpan.FromSeconds(30));
        Ready(generator, version: 3);

        generator.Tell(new Credit(1, LearnerVersion: 3, MinPolicyVersion: 2));
        generator.Tell(PromptFor(1));
        var group = _annotator.ExpectMsg<GeneratedGroup>(Soon);
        Assert.Equal(3, group.Group.PolicyVersion);

        // The next credit (asked for while the first group was sampled) needs exactly the version held: no wait either.
        _buffer.ExpectMsg<RequestCredit>(Soon);
        generator.Tell(new Credit(2, LearnerVersion: 3, MinPolicyVersion: 3));
        generator.Tell(PromptFor(2));
        Assert.Equal(2, _annotator.ExpectMsg<GeneratedGroup>(Soon).CreditId);
        Assert.Equal(0, counter.Waited);
        Assert.Equal(0, counter.SampledOld);
    }
}
