using Akka.Actor;
using Akka.Configuration;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Protocol;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>The tripwire that <see cref="ThreeNodeRunSpec"/> relies on: an unbound type does not cross; a pipeline message does.</summary>
public sealed class TripwireSpec
{
    private sealed record Unbound(int X);

    private sealed class Sink : ReceiveActor
    {
        public Sink(TaskCompletionSource<object> got) => ReceiveAny(m => got.TrySetResult(m));
    }

    [Fact]
    public async Task An_unbound_message_type_is_stopped_at_the_node_boundary_and_a_pipeline_message_crosses()
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", RepoRoot.Combine("hocon", "smoke.conf"), []);
        Config Node(string role) => ConfigurationFactory.ParseString(TripwireSerializer.Config)
            .WithFallback(ClusterRoles.NodeConfig(settings, "127.0.0.1", 0, [role]));
        var a = ActorSystem.Create("pipeline", Node(ClusterRoles.Learner));
        var b = ActorSystem.Create("pipeline", Node(ClusterRoles.Generator));
        try
        {
            TripwireSerializer.Hits.Clear();
            var seed = AkkaCluster.Get(a).SelfAddress;
            AkkaCluster.Get(a).Join(seed);
            AkkaCluster.Get(b).JoinSeedNodes([seed]);
            var got = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
            a.ActorOf(Props.Create(() => new Sink(got)), "sink");
            var remote = await b.ActorSelection(new RootActorPath(seed) / "user" / "sink").ResolveOne(TimeSpan.FromSeconds(10));

            remote.Tell(new Unbound(1));
            remote.Tell(new Credit(7, 3));

            var first = await got.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(new Credit(7, 3), first); // the unbound message, sent first, never arrived
            Assert.Contains(typeof(Unbound).FullName, TripwireSerializer.Hits);
        }
        finally
        {
            // One after the other: b leaves while a (the leader) can still confirm it. Both at once can leave a waiting for
            // the split-brain resolver to down a b that is already gone (CI once saw that take longer than 15 s).
            await b.Terminate().WaitAsync(TimeSpan.FromSeconds(20));
            await a.Terminate().WaitAsync(TimeSpan.FromSeconds(20));
        }
    }
}
