namespace Pipeline.Testing.Tests;

/// <summary>The delay scripted sources use in virtual time: it ends on the loop's thread, at its virtual instant or at once when cancelled.</summary>
public sealed class VirtualTimeDelaySpec : VirtualTimeTestKit
{
    [Fact]
    public void A_delay_completes_at_its_virtual_instant_on_the_thread_that_ran_the_loop()
    {
        var resumedAt = TimeSpan.MinValue;
        var resumedOn = -1;
        async Task Wait()
        {
            // Test code runs under xUnit's SynchronizationContext, which would move the continuation; inside an actor there is none.
            await VirtualTime.Delay(Time, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            resumedAt = Now;
            resumedOn = Environment.CurrentManagedThreadId;
        }
        var waiting = Wait();

        Advance(TimeSpan.FromSeconds(29));
        Assert.False(waiting.IsCompleted);
        Advance(TimeSpan.FromSeconds(1));

        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Equal(TimeSpan.FromSeconds(30), resumedAt);
        Assert.Equal(Environment.CurrentManagedThreadId, resumedOn);
    }

    [Fact]
    public void A_delay_cancelled_on_the_loop_resumes_its_awaiter_there_at_once_so_nothing_is_left_to_the_thread_pool()
    {
        using var cancel = new CancellationTokenSource();
        var resumedAt = TimeSpan.MinValue;
        var resumedOn = -1;
        async Task Wait()
        {
            try
            {
                await VirtualTime.Delay(Time, TimeSpan.FromHours(1), cancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                resumedAt = Now;
                resumedOn = Environment.CurrentManagedThreadId;
            }
        }
        var waiting = Wait();

        // Cancelled from the loop, as an annotation stage cancels a source: the awaiter must be done before the loop moves on.
        Schedule(TimeSpan.FromSeconds(5), () =>
        {
            cancel.Cancel();
            Assert.True(waiting.IsCompleted, "the awaiter was left to another thread");
        });
        Advance(TimeSpan.FromSeconds(10));

        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Equal(TimeSpan.FromSeconds(5), resumedAt);
        Assert.Equal(Environment.CurrentManagedThreadId, resumedOn);
    }
}
