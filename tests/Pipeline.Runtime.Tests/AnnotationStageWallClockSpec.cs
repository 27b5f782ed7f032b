using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Protocol;
using Xunit.Abstractions;
using static Pipeline.Runtime.Tests.RolloutGroups;

namespace Pipeline.Runtime.Tests;

/// <summary>
/// What only the real placement does: sources called through <c>Task.Run</c> on the thread pool. Virtual time cannot take
/// this over, since a simulated stage calls its sources inline and a source that blocks there blocks the whole loop.
/// </summary>
public class AnnotationStageWallClockSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output)
{
    [Fact]
    public void Stage_must_hold_the_deadline_of_a_source_that_blocks_before_returning_its_task()
    {
        var deadline = TimeSpan.FromMilliseconds(200);
        var blocking = new ScriptedRewardSource("exec", (g, _) =>
        {
            Thread.Sleep(3000); // synchronous work before the first await, as a naive source would write it
            return Task.FromResult(ScriptedRewardSource.Signals("exec", g, [1.0, 1.0, 1.0]));
        });
        var buffer = CreateTestProbe();
        var stage = Sys.ActorOf(AnnotationStage.Props([(blocking, new RewardSourceSpec("exec", 1.0, Required: true, deadline))], buffer.Ref, 4));

        // Well under the source's 3 s of blocking work (slack for a loaded 2-core CI box): the deadline, not the source, decides.
        var clock = Stopwatch.StartNew();
        stage.Tell(Generated(1));
        var annotated = buffer.ExpectMsg<AnnotatedGroup>(TimeSpan.FromSeconds(3));
        Assert.True(clock.Elapsed <= TimeSpan.FromMilliseconds(2000), $"the group took {clock.Elapsed.TotalMilliseconds:0} ms; allowed 2000 ms");

        Assert.All(annotated.Rewards, r => Assert.Contains("deadline", r.Signals.Single().Details));
    }
}
