using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Xunit.Abstractions;

namespace Pipeline.Runtime.Tests;

public class PromptSourceSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output)
{
    private static readonly IReadOnlyList<Prompt> Prompts =
        Enumerable.Range(0, 7).Select(i => RolloutGroups.Prompt($"p{i}", $"question {i}")).ToList();

    private List<PromptAssigned> Serve(int seed, long startCursor, int count, IReadOnlyList<Prompt>? prompts = null)
    {
        var source = Sys.ActorOf(PromptSource.Props(prompts ?? Prompts, seed, startCursor));
        var generator = CreateTestProbe();
        for (var i = 0; i < count; i++) source.Tell(new RequestPrompt("g0"), generator.Ref);
        return Enumerable.Range(0, count).Select(_ => generator.ExpectMsg<PromptAssigned>(TimeSpan.FromSeconds(1))).ToList();
    }

    [Fact]
    public void Source_must_serve_the_same_order_for_the_same_seed()
    {
        var first = Serve(seed: 7, startCursor: 0, count: 21).Select(a => a.Prompt.Id);
        var second = Serve(seed: 7, startCursor: 0, count: 21).Select(a => a.Prompt.Id);

        Assert.Equal(first, second);
    }

    [Fact]
    public void Source_must_serve_a_different_order_for_a_different_seed()
    {
        var many = Enumerable.Range(0, 20).Select(i => RolloutGroups.Prompt($"p{i}")).ToList();

        var a = Serve(seed: 7, startCursor: 0, count: 20, many).Select(x => x.Prompt.Id);
        var b = Serve(seed: 8, startCursor: 0, count: 20, many).Select(x => x.Prompt.Id);

        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Source_must_serve_every_prompt_exactly_once_per_epoch_and_reshuffle_between_epochs()
    {
        var served = Serve(seed: 3, startCursor: 0, count: 3 * Prompts.Count).Select(a => a.Prompt.Id).ToList();

        var epochs = served.Chunk(Prompts.Count).ToList();
        Assert.All(epochs, epoch => Assert.Equal(Prompts.Select(p => p.Id).Order(), epoch.Order()));
        Assert.True(epochs.Select(e => string.Join(",", e)).Distinct().Count() > 1, "every epoch came in the same order");
    }

    [Fact]
    public void Source_must_report_the_number_of_prompts_served_as_the_cursor()
    {
        var served = Serve(seed: 3, startCursor: 4, count: 5);

        Assert.Equal([5L, 6L, 7L, 8L, 9L], served.Select(a => a.Cursor));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(7)]  // an epoch boundary
    [InlineData(10)]
    [InlineData(20)] // the last prompt of the third epoch
    public void Source_resumed_at_cursor_k_must_serve_what_the_original_served_at_k(int k)
    {
        var original = Serve(seed: 11, startCursor: 0, count: 28);
        // The checkpoint stores the cursor of the last trained prompt, which the original reported as original[k - 1].Cursor.
        Assert.Equal(k, k == 0 ? 0 : original[k - 1].Cursor);

        var resumed = Serve(seed: 11, startCursor: k, count: 28 - k);

        Assert.Equal(original.Skip(k).Select(a => (a.Prompt.Id, a.Cursor)), resumed.Select(a => (a.Prompt.Id, a.Cursor)));
    }

    [Fact]
    public void Source_must_reissue_the_prompt_of_a_lost_credit_once_and_not_the_prompt_of_a_settled_one()
    {
        var source = Sys.ActorOf(PromptSource.Props(Prompts, 7, 0));
        var generator = CreateTestProbe();
        PromptAssigned Ask(long credit)
        {
            source.Tell(new RequestPrompt("g0", credit), generator.Ref);
            return generator.ExpectMsg<PromptAssigned>(TimeSpan.FromSeconds(1));
        }

        var first = Ask(1);
        var second = Ask(2);
        source.Tell(new PromptSettled(1, Lost: true));   // credit 1's group never arrived
        source.Tell(new PromptSettled(2, Lost: false));  // credit 2's group was accepted
        var third = Ask(3);
        var fourth = Ask(4);

        Assert.Equal(first.Prompt.Id, third.Prompt.Id);       // re-issued before any new prompt
        Assert.Equal(second.Cursor, third.Cursor);            // a re-issue does not advance the data cursor
        Assert.NotEqual(second.Prompt.Id, fourth.Prompt.Id);  // the settled one is not handed out again
        Assert.Equal(second.Cursor + 1, fourth.Cursor);

        source.Tell(new PromptSettled(3, Lost: true));        // the re-issued prompt is lost again: not a third time
        var fifth = Ask(5);
        Assert.NotEqual(first.Prompt.Id, fifth.Prompt.Id);
        Assert.Equal(fourth.Cursor + 1, fifth.Cursor);
    }
}
