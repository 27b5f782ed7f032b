using Pipeline.Core.Admission;

namespace Pipeline.Core.Tests;

public class AdmissionControllerSpec
{
    [Fact]
    public void Capacity_follows_the_AReaL_rule()
    {
        // B = 4, eta = 1, v = 0: (1 + 0 + 1) * 4 - (0 + 0) = 8 groups may start.
        var c = new AdmissionController(batchGroups: 4, maxStaleness: 1);
        Assert.Equal(8, c.Capacity);
        var granted = 0;
        while (c.TryGrant()) granted++;
        Assert.Equal(8, granted);
        Assert.Equal(8, c.Running);
        Assert.Equal(0, c.Capacity);
    }

    [Fact]
    public void Accepted_groups_keep_counting_until_the_version_advances()
    {
        var c = new AdmissionController(4, 0);
        for (var i = 0; i < 4; i++) Assert.True(c.TryGrant());
        Assert.False(c.TryGrant());
        for (var i = 0; i < 4; i++) c.OnAccepted();
        // Accepted groups still count: nothing new may start for version 0.
        Assert.False(c.TryGrant());
        c.OnVersion(1);
        Assert.Equal(4, c.Capacity);
    }

    [Fact]
    public void A_released_credit_reopens_its_slot()
    {
        var c = new AdmissionController(2, 0);
        Assert.True(c.TryGrant());
        Assert.True(c.TryGrant());
        Assert.False(c.TryGrant());
        c.OnReleased();
        Assert.Equal(1, c.Rejected);
        Assert.True(c.TryGrant());
    }

    [Fact]
    public void A_stale_group_discarded_after_acceptance_frees_capacity()
    {
        var c = new AdmissionController(2, 0);
        c.TryGrant(); c.TryGrant();
        c.OnAccepted(); c.OnAccepted();
        Assert.Equal(0, c.Capacity);
        c.OnDiscardedAfterAcceptance();
        Assert.Equal(1, c.Capacity);
    }

    [Fact]
    public void A_resumed_run_counts_the_batches_already_consumed()
    {
        var c = new AdmissionController(batchGroups: 8, maxStaleness: 1, version: 5);
        Assert.Equal(40, c.Accepted);
        Assert.Equal(16, c.Capacity);
    }

    [Fact]
    public void The_policy_version_never_goes_backwards()
    {
        var c = new AdmissionController(2, 1, version: 3);
        Assert.Throws<InvalidOperationException>(() => c.OnVersion(2));
    }

    [Fact]
    public void Accepting_an_ungranted_group_is_an_error()
    {
        var c = new AdmissionController(2, 1);
        Assert.Throws<InvalidOperationException>(() => c.OnAccepted());
        Assert.Throws<InvalidOperationException>(() => c.OnReleased());
    }

    [Fact]
    public void Each_grant_names_the_oldest_version_its_group_can_be_trained_with()
    {
        // B = 2, eta = 1, resumed at version 3: 6 groups consumed. Slots 6,7 fill the batch asked for at v3 (a group from
        // v2 is still fresh there), slots 8,9 the batch at v4 (needs v3 or newer).
        var c = new AdmissionController(batchGroups: 2, maxStaleness: 1, version: 3);
        var mins = new List<long>();
        while (c.TryGrant(out var min)) mins.Add(min);
        Assert.Equal([2L, 2L, 3L, 3L], mins);
        Assert.All(mins, m => Assert.True(m <= c.Version));

        // The learner moves to v4 after taking the first batch: two more slots, for the batch at v5 (needs v4).
        c.OnAccepted(); c.OnAccepted();
        c.OnVersion(4);
        Assert.True(c.TryGrant(out var next));
        Assert.Equal(4, next);

        // A group dropped as stale frees its slot; the next grant refills that slot, for the same batch.
        c.OnAccepted();
        c.OnDiscardedAfterAcceptance();
        Assert.Equal(2, c.Capacity);
        Assert.True(c.TryGrant(out var refill));
        Assert.Equal(4, refill);
    }

    [Fact]
    public void With_no_staleness_allowed_a_group_must_be_sampled_with_the_version_that_trains_on_it()
    {
        var c = new AdmissionController(batchGroups: 3, maxStaleness: 0);
        for (var i = 0; i < 3; i++) { Assert.True(c.TryGrant(out var min)); Assert.Equal(0, min); }
        Assert.False(c.TryGrant(out _));
        for (var i = 0; i < 3; i++) c.OnAccepted();
        c.OnVersion(1);
        Assert.True(c.TryGrant(out var afterStep));
        Assert.Equal(1, afterStep);
    }
}
