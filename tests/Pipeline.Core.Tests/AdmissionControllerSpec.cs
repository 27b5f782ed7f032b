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
}
