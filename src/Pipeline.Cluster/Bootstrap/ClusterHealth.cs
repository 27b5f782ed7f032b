using Akka.Actor;
using Akka.Cluster;

namespace Pipeline.Cluster.Bootstrap;

/// <summary>What <c>/ready</c> and <c>/alive</c> on the management endpoint mean (Kubernetes probes, compose healthchecks).</summary>
public static class ClusterHealth
{
    /// <summary>Ready: this node is, in its own view, a cluster member with status Up.</summary>
    public static (bool Ok, string Reason) Ready(ActorSystem system)
    {
        if (system.WhenTerminated.IsCompleted) return (false, "actor system terminated");
        var cluster = Akka.Cluster.Cluster.Get(system);
        if (cluster.IsTerminated) return (false, "cluster extension stopped");
        var status = cluster.SelfMember.Status;
        return status == MemberStatus.Up ? (true, "Up member of the cluster") : (false, $"member status {status}, not Up");
    }

    /// <summary>Alive: the ActorSystem runs (a node that has not joined yet is alive, just not ready).</summary>
    public static (bool Ok, string Reason) Alive(ActorSystem system) =>
        system.WhenTerminated.IsCompleted ? (false, "actor system terminated") : (true, "actor system running");
}
