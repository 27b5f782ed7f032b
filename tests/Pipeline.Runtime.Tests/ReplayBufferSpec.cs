using Akka.Actor;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Pipeline.Testing;
using static Pipeline.Runtime.Tests.RolloutGroups;

namespace Pipeline.Runtime.Tests;

/// <summary>The buffer on virtual time: its expiry timer and credit deadlines run on the kit's clock, so "quiet" and "soon" cost no wall time and cannot race.</summary>
public class ReplayBufferSpec : VirtualTimeTestKit
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(1);

    private IActorRef Buffer(int batchGroups = 1, int maxStaleness = 0, int capacity = 100, long startVersion = 0, TimeSpan? creditTimeout = null)
        => Sys.ActorOf(ReplayBuffer.Props(new ReplayBuffer.Settings(batchGroups, maxStaleness, capacity, startVersion,
            creditTimeout ?? TimeSpan.FromMinutes(1)) { Clock = Time }));

    private static Credit AskCredit(IActorRef buffer, VirtualProbe generator)
    {
        buffer.Tell(new RequestCredit(generator.Ref.Path.Name), generator.Ref);
        return generator.ExpectMsg<Credit>(Soon);
    }

    private static void AskCreditAndWait(IActorRef buffer, VirtualProbe generator)
    {
        buffer.Tell(new RequestCredit(generator.Ref.Path.Name), generator.Ref);
        generator.ExpectNoMsg(Quiet);
    }

    private static TrainingBatch Serve(IActorRef buffer, VirtualProbe learner, int groups, long learnerVersion, long requestId = 1)
    {
        buffer.Tell(new RequestBatch(requestId, groups, learnerVersion), learner.Ref);
        return learner.ExpectMsg<TrainingBatch>(Soon);
    }

    [Fact]
    public void Each_credit_names_the_oldest_policy_version_its_group_can_still_be_trained_with()
    {
        // B = 2, eta = 1, resumed at v3: the first two credits fill the batch the learner asks for at v3 (v2 is fresh
        // enough there), the next two the batch at v4 (v3 or newer).
        var buffer = Buffer(batchGroups: 2, maxStaleness: 1, startVersion: 3);
        var generator = CreateTestProbe();
        var mins = Enumerable.Range(0, 4).Select(_ => AskCredit(buffer, generator).MinPolicyVersion).ToList();
        Assert.Equal([2L, 2L, 3L, 3L], mins);
    }

    [Theory]
    [InlineData(1, 1, 0)] // (1 + 0 + 1) * 1 = 2
    [InlineData(2, 1, 0)] // (1 + 0 + 1) * 2 = 4
    [InlineData(2, 0, 3)] // resumed at v = 3 with 3 * 2 groups consumed: (0 + 3 + 1) * 2 - 6 = 2
    public void Buffer_must_grant_credits_up_to_eta_plus_v_plus_1_times_B_and_no_more(int batchGroups, int maxStaleness, long startVersion)
    {
        var buffer = Buffer(batchGroups, maxStaleness, startVersion: startVersion);
        var allowed = (maxStaleness + 1) * batchGroups;

        var credits = Enumerable.Range(0, allowed).Select(_ => AskCredit(buffer, CreateTestProbe())).ToList();

        Assert.Equal(allowed, credits.Select(c => c.CreditId).Distinct().Count());
        Assert.All(credits, c => Assert.Equal(startVersion, c.LearnerVersion));
        AskCreditAndWait(buffer, CreateTestProbe());
    }

    [Fact]
    public void Buffer_must_grant_several_credits_to_one_generator_that_keeps_asking()
    {
        var buffer = Buffer(batchGroups: 2, maxStaleness: 0);
        var generator = CreateTestProbe();

        AskCredit(buffer, generator);
        AskCredit(buffer, generator);
        AskCreditAndWait(buffer, generator);
    }

    [Fact]
    public void Waiting_generator_must_get_a_credit_when_the_policy_version_advances()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0);
        var first = CreateTestProbe();
        var waiting = CreateTestProbe();
        AskCredit(buffer, first);
        AskCreditAndWait(buffer, waiting);

        buffer.Tell(new PolicyVersionAdvanced(1));

        var credit = waiting.ExpectMsg<Credit>(Soon);
        Assert.Equal(1, credit.LearnerVersion);
        first.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Waiting_generator_must_get_a_credit_when_a_credit_is_released()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0);
        var first = CreateTestProbe();
        var waiting = CreateTestProbe();
        var granted = AskCredit(buffer, first);
        AskCreditAndWait(buffer, waiting);

        buffer.Tell(new CreditReleased(granted.CreditId, "generation failed"));

        var credit = waiting.ExpectMsg<Credit>(Soon);
        Assert.NotEqual(granted.CreditId, credit.CreditId);
    }

    [Fact]
    public void Buffer_must_count_a_released_credit_only_once()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0);
        var granted = AskCredit(buffer, CreateTestProbe());
        var second = CreateTestProbe();
        var third = CreateTestProbe();
        AskCreditAndWait(buffer, second);
        AskCreditAndWait(buffer, third);

        // The generator's PostStop and the buffer's watch may both report the same credit.
        buffer.Tell(new CreditReleased(granted.CreditId, "generator stopped"));
        buffer.Tell(new CreditReleased(granted.CreditId, "generator stopped"));

        var credit = second.ExpectMsg<Credit>(Soon);
        third.ExpectNoMsg(Quiet);

        buffer.Tell(Annotated(credit.CreditId, policyVersion: 0));
        var batch = Serve(buffer, CreateTestProbe(), groups: 1, learnerVersion: 0);
        Assert.Equal(1, batch.Stats.CreditsReleased);
    }

    [Fact]
    public void Buffer_must_answer_a_batch_request_only_when_B_groups_are_present_and_with_exactly_B_groups()
    {
        var buffer = Buffer(batchGroups: 2, maxStaleness: 1);
        var generator = CreateTestProbe();
        var learner = CreateTestProbe();
        var credits = Enumerable.Range(0, 4).Select(_ => AskCredit(buffer, generator)).ToList();

        buffer.Tell(Annotated(credits[0].CreditId, policyVersion: 0));
        buffer.Tell(new RequestBatch(7, 2, 0), learner.Ref);
        learner.ExpectNoMsg(Quiet);

        buffer.Tell(Annotated(credits[1].CreditId, policyVersion: 0));
        var first = learner.ExpectMsg<TrainingBatch>(Soon);
        Assert.Equal(7, first.RequestId);
        Assert.Equal([credits[0].CreditId, credits[1].CreditId], first.Groups.Select(g => g.CreditId));
        Assert.Equal(0, first.Stats.Depth);

        buffer.Tell(Annotated(credits[2].CreditId, policyVersion: 0));
        buffer.Tell(Annotated(credits[3].CreditId, policyVersion: 0));
        learner.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // nothing asked for: nothing sent

        buffer.Tell(new PolicyVersionAdvanced(1));
        var second = Serve(buffer, learner, groups: 2, learnerVersion: 1, requestId: 8);
        Assert.Equal(2, second.Groups.Length);
        Assert.Equal(4, second.Stats.Accepted);
    }

    [Fact]
    public void Buffer_must_serve_no_more_than_the_requested_groups()
    {
        var buffer = Buffer(batchGroups: 2, maxStaleness: 1);
        var generator = CreateTestProbe();
        var credits = Enumerable.Range(0, 3).Select(_ => AskCredit(buffer, generator)).ToList();
        foreach (var c in credits) buffer.Tell(Annotated(c.CreditId, policyVersion: 0));

        var batch = Serve(buffer, CreateTestProbe(), groups: 2, learnerVersion: 0);

        Assert.Equal(2, batch.Groups.Length);
        Assert.Equal(1, batch.Stats.Depth);
    }

    [Fact]
    public void Buffer_must_drop_groups_older_than_eta_at_serve_time_and_count_them()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 1);
        var generator = CreateTestProbe();
        var learner = CreateTestProbe();
        var old = AskCredit(buffer, generator);
        var fresh = AskCredit(buffer, generator);
        buffer.Tell(Annotated(old.CreditId, policyVersion: 0));

        // The learner is at version 2 (its PolicyVersionAdvanced not yet seen): a version-0 group is 2 > eta old.
        buffer.Tell(new RequestBatch(1, 1, 2), learner.Ref);
        learner.ExpectNoMsg(Quiet);

        buffer.Tell(Annotated(fresh.CreditId, policyVersion: 1)); // exactly eta old: still servable
        var batch = learner.ExpectMsg<TrainingBatch>(Soon);

        Assert.Equal([fresh.CreditId], batch.Groups.Select(g => g.CreditId));
        Assert.Equal(1, batch.Stats.DroppedStale);
        Assert.Equal(0, batch.Stats.Depth);
    }

    [Fact]
    public void Buffer_must_drop_queued_groups_that_a_version_advance_makes_too_old()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0);
        var generator = CreateTestProbe();
        var credit = AskCredit(buffer, generator);
        buffer.Tell(Annotated(credit.CreditId, policyVersion: 0));

        buffer.Tell(new PolicyVersionAdvanced(1));
        // The dropped group no longer counts against admission: (0 + 1 + 1) * 1 - 0 = 2 credits open.
        var next = AskCredit(buffer, generator);
        AskCredit(buffer, generator);
        buffer.Tell(Annotated(next.CreditId, policyVersion: 1));

        var batch = Serve(buffer, CreateTestProbe(), groups: 1, learnerVersion: 1);
        Assert.Equal([next.CreditId], batch.Groups.Select(g => g.CreditId));
        Assert.Equal(1, batch.Stats.DroppedStale);
    }

    [Fact]
    public void Buffer_must_drop_a_group_whose_credit_it_does_not_know_and_never_serve_it()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0);
        var learner = CreateTestProbe();
        var credit = AskCredit(buffer, CreateTestProbe());

        buffer.Tell(Annotated(creditId: 999, policyVersion: 0));
        buffer.Tell(new RequestBatch(1, 1, 0), learner.Ref);
        learner.ExpectNoMsg(Quiet);

        buffer.Tell(Annotated(credit.CreditId, policyVersion: 0));
        var batch = learner.ExpectMsg<TrainingBatch>(Soon);
        Assert.Equal([credit.CreditId], batch.Groups.Select(g => g.CreditId));
        Assert.Equal(1, batch.Stats.DroppedLate);
        Assert.Equal(1, batch.Stats.Accepted);
    }

    [Fact]
    public void Buffer_must_expire_a_credit_after_its_timeout_and_drop_the_group_that_comes_late()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0, creditTimeout: TimeSpan.FromMilliseconds(1500));
        var slow = CreateTestProbe();
        var waiting = CreateTestProbe();
        var expiring = AskCredit(buffer, slow);
        buffer.Tell(new RequestCredit("waiting"), waiting.Ref);

        // Expiry runs on a 1 s periodic timer: the 1.5 s credit is still held at the first tick and gone at the second.
        var credit = waiting.ExpectMsg<Credit>(TimeSpan.FromSeconds(2.2));
        Assert.Equal(TimeSpan.FromSeconds(2), waiting.LastReceived!.At);

        buffer.Tell(Annotated(expiring.CreditId, policyVersion: 0));
        buffer.Tell(Annotated(credit.CreditId, policyVersion: 0));
        var batch = Serve(buffer, CreateTestProbe(), groups: 1, learnerVersion: 0);
        Assert.Equal([credit.CreditId], batch.Groups.Select(g => g.CreditId));
        Assert.Equal(1, batch.Stats.CreditsExpired);
        Assert.Equal(1, batch.Stats.DroppedLate);
    }

    [Fact]
    public void Buffer_must_release_the_credits_of_a_generator_that_dies()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 1);
        var doomed = CreateTestProbe();
        var waiting = CreateTestProbe();
        var lost1 = AskCredit(buffer, doomed);
        var lost2 = AskCredit(buffer, doomed);
        AskCreditAndWait(buffer, waiting);

        Sys.Stop(doomed.Ref);

        // Credit timeout is a minute: only the death watch can free the slots this fast.
        var credit = waiting.ExpectMsg<Credit>(Soon);
        buffer.Tell(Annotated(lost1.CreditId, policyVersion: 0)); // arrives after its generator was declared dead
        buffer.Tell(Annotated(credit.CreditId, policyVersion: 0));
        var batch = Serve(buffer, CreateTestProbe(), groups: 1, learnerVersion: 0);
        Assert.Equal([credit.CreditId], batch.Groups.Select(g => g.CreditId));
        Assert.Equal(2, batch.Stats.CreditsReleased);
        Assert.Equal(1, batch.Stats.DroppedLate);
        Assert.NotEqual(lost2.CreditId, credit.CreditId);
    }

    [Fact]
    public void Buffer_must_forget_a_waiting_generator_that_dies()
    {
        var buffer = Buffer(batchGroups: 1, maxStaleness: 0);
        var holder = CreateTestProbe();
        var doomed = CreateTestProbe();
        var next = CreateTestProbe();
        var held = AskCredit(buffer, holder);
        AskCreditAndWait(buffer, doomed);
        AskCreditAndWait(buffer, next);

        Kill(doomed.Ref, Soon);
        buffer.Tell(new CreditReleased(held.CreditId, "generation failed"));

        next.ExpectMsg<Credit>(Soon);
    }

    [Fact]
    public void Buffer_must_never_hold_more_than_its_hard_capacity()
    {
        // Admission alone would allow (3 + 0 + 1) * 2 = 8 groups; the hard cap is 3 groups queued or running.
        var buffer = Buffer(batchGroups: 2, maxStaleness: 3, capacity: 3);
        var generator = CreateTestProbe();
        var credits = Enumerable.Range(0, 3).Select(_ => AskCredit(buffer, generator)).ToList();
        AskCreditAndWait(buffer, generator);

        foreach (var c in credits) buffer.Tell(Annotated(c.CreditId, policyVersion: 0));
        generator.ExpectNoMsg(Quiet); // 3 queued: still full

        var batch = Serve(buffer, CreateTestProbe(), groups: 2, learnerVersion: 0);
        Assert.Equal(5, batch.Stats.Capacity); // admission still had room (8 - 3 accepted): only the hard cap held it back
        generator.ExpectMsg<Credit>(Soon);
    }

    [Fact]
    public void Buffer_must_drop_a_group_delivered_twice_tell_the_prompt_source_how_each_credit_ended_and_keep_balanced_books()
    {
        var prompts = CreateTestProbe();
        var buffer = Sys.ActorOf(ReplayBuffer.Props(new ReplayBuffer.Settings(2, 0, 100, 0, TimeSpan.FromMinutes(1)) { Clock = Time }, prompts.Ref));
        var generator = CreateTestProbe();
        var first = AskCredit(buffer, generator);
        // Each grant asks the prompt source for that credit's prompt, on behalf of the generator (the reply goes to it).
        var asked = prompts.ExpectMsg<RequestPrompt>(Soon);
        Assert.Equal(first.CreditId, asked.CreditId);
        Assert.Equal(generator.Ref, prompts.LastSender);
        var second = AskCredit(buffer, CreateTestProbe());
        Assert.Equal(second.CreditId, prompts.ExpectMsg<RequestPrompt>(Soon).CreditId);

        var group = Annotated(first.CreditId, policyVersion: 0, rollouts: 3);
        buffer.Tell(group);
        Assert.Equal(new PromptSettled(first.CreditId, Lost: false), prompts.ExpectMsg<PromptSettled>(Soon));
        buffer.Tell(group);  // the same group again (a resend): not accepted twice, and its credit is not settled twice
        buffer.Tell(new CreditReleased(second.CreditId, "generation failed: out of memory"));
        Assert.Equal(new PromptSettled(second.CreditId, Lost: true), prompts.ExpectMsg<PromptSettled>(Soon));

        var asker = CreateTestProbe();
        asker.Send(buffer, ReplayBuffer.GetLedger.Instance);
        var ledger = asker.ExpectMsg<BufferLedger>(Soon);
        Assert.Equal(2, ledger.CreditsGranted);
        Assert.Equal(1, ledger.GroupsAccepted);
        Assert.Equal(3, ledger.RolloutsAccepted);
        Assert.Equal(1, ledger.GroupsDroppedDuplicate);
        Assert.Equal(3, ledger.RolloutsDroppedDuplicate);
        Assert.Equal(1, ledger.CreditsReleased);
        Assert.Equal(1, ledger.CreditsReleasedBy["generation failed"]);
        Assert.Equal(1, ledger.GroupsInBuffer);
        Assert.Equal(0, ledger.CreditsOutstanding);
        Assert.True(ledger.Balanced);

        // Serving the group keeps the books balanced; the ledger file round-trips.
        var batch = Serve(buffer, CreateTestProbe(), groups: 1, learnerVersion: 0);
        Assert.Single(batch.Groups);
        asker.Send(buffer, ReplayBuffer.GetLedger.Instance);
        var after = asker.ExpectMsg<BufferLedger>(Soon);
        Assert.Equal(1, after.GroupsServed);
        Assert.Equal(0, after.GroupsInBuffer);
        Assert.True(after.Balanced);
        var path = Path.Combine(Path.GetTempPath(), $"ledger-{Guid.NewGuid():N}.json");
        try
        {
            BufferLedger.Write(path, after);
            var read = BufferLedger.Read(path)!;
            Assert.Equal(after.GroupsServed, read.GroupsServed);
            Assert.Equal(after.CreditsReleasedBy["generation failed"], read.CreditsReleasedBy["generation failed"]);
            Assert.True(read.Balanced);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Dynamic_sampling_drops_groups_without_signal_and_grants_a_replacement_credit()
    {
        var prompts = CreateTestProbe();
        var buffer = Sys.ActorOf(ReplayBuffer.Props(new ReplayBuffer.Settings(1, 0, 100, 0, TimeSpan.FromMinutes(1)) { DropUninformative = true, Clock = Time }, prompts.Ref));
        var generator = CreateTestProbe();
        var learner = CreateTestProbe();

        var first = AskCredit(buffer, generator);
        AskCreditAndWait(buffer, generator); // B = 1, eta = 0: one credit at a time
        buffer.Tell(Annotated(first.CreditId, 0, rewardValues: [1.0, 1.0, 1.0]), generator.Ref); // all right: no advantage
        var replacement = generator.ExpectMsg<Credit>(Soon); // the waiting request is granted in its place
        Assert.NotEqual(first.CreditId, replacement.CreditId);
        buffer.Tell(Annotated(replacement.CreditId, 0, rewardValues: [0.0, 1.0, 0.0]), generator.Ref);

        var batch = Serve(buffer, learner, 1, 0);
        Assert.Equal(replacement.CreditId, batch.Groups.Single().CreditId);
        Assert.Equal(1, batch.Stats.DroppedUninformative);
        // The dropped group's prompt was used, not lost: it is not re-issued.
        Assert.Contains(prompts.ReceiveWhile(Quiet).Select(r => r.Message).OfType<PromptSettled>(), s => s.CreditId == first.CreditId && !s.Lost);

        buffer.Tell(ReplayBuffer.GetLedger.Instance, learner.Ref);
        var ledger = learner.ExpectMsg<BufferLedger>(Soon);
        Assert.Equal(1, ledger.GroupsDroppedUninformative);
        Assert.Equal(3, ledger.RolloutsDroppedUninformative);
        Assert.True(ledger.Balanced, ledger.ToJson());
    }

    [Fact]
    public void Dynamic_sampling_takes_uninformative_groups_after_its_drop_bound_so_a_saturated_task_never_stalls()
    {
        var buffer = Sys.ActorOf(ReplayBuffer.Props(new ReplayBuffer.Settings(1, 0, 100, 0, TimeSpan.FromMinutes(1))
            { DropUninformative = true, MaxDropsPerBatch = 2, Clock = Time }));
        var generator = CreateTestProbe();
        var learner = CreateTestProbe();
        buffer.Tell(new RequestBatch(1, 1, 0), learner.Ref);

        var credit = AskCredit(buffer, generator);
        for (var i = 0; i < 2; i++)
        {
            buffer.Tell(Annotated(credit.CreditId, 0, rewardValues: [0.0, 0.0]), generator.Ref);
            credit = AskCredit(buffer, generator);
        }
        learner.ExpectNoMsg(Quiet); // two dropped so far
        buffer.Tell(Annotated(credit.CreditId, 0, rewardValues: [0.0, 0.0]), generator.Ref);
        var batch = learner.ExpectMsg<TrainingBatch>(Soon); // the third is taken despite having no signal
        Assert.Equal(credit.CreditId, batch.Groups.Single().CreditId);
        Assert.Equal(2, batch.Stats.DroppedUninformative);
    }

    [Fact]
    public void Without_dynamic_sampling_groups_without_signal_are_served()
    {
        var buffer = Buffer();
        var generator = CreateTestProbe();
        var credit = AskCredit(buffer, generator);
        buffer.Tell(Annotated(credit.CreditId, 0, rewardValues: [1.0, 1.0]), generator.Ref);
        Assert.Equal(credit.CreditId, Serve(buffer, CreateTestProbe(), 1, 0).Groups.Single().CreditId);
    }
}
