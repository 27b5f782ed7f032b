using Akka.Actor;
using Akka.Cluster;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// Watches, on a generator, annotator or critic node, how learner nodes leave the cluster, so the node can tell the end
/// of the run from the loss of the learner side. A learner node that leaves on purpose (its run completed or failed, or
/// Ctrl-C / SIGTERM checkpointed it) goes through Leaving and Exiting; one that crashed or was cut off never does: it
/// becomes unreachable and the split-brain resolver downs this side. <see cref="State.LeftOnPurpose"/> is true while the
/// newest learner departure was a graceful leave and no learner node is Up since.
/// </summary>
public sealed class LearnerDepartures : ReceiveActor
{
    /// <summary>What the watcher saw, read from outside the actor system (also after it terminated).</summary>
    public sealed class State
    {
        private volatile bool _leftOnPurpose;
        private volatile string _last = "";

        /// <summary>A learner node left gracefully and none is Up now: the run ended (or was interrupted) on purpose.</summary>
        public bool LeftOnPurpose => _leftOnPurpose;

        /// <summary>The newest learner departure, for messages ("akka.tcp://...:4053 Exiting").</summary>
        public string Last => _last;

        internal void Set(bool leftOnPurpose, string last) { _leftOnPurpose = leftOnPurpose; _last = last; }
    }

    private readonly State _state;
    private readonly HashSet<Address> _up = [];

    public LearnerDepartures(State state)
    {
        _state = state;
        Receive<ClusterEvent.MemberUp>(m => { if (IsLearner(m.Member)) { _up.Add(m.Member.Address); _state.Set(false, _state.Last); } });
        Receive<ClusterEvent.MemberLeft>(m => Graceful(m.Member, "Leaving"));
        Receive<ClusterEvent.MemberExited>(m => Graceful(m.Member, "Exiting"));
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            if (m.PreviousStatus == MemberStatus.Exiting) Graceful(m.Member, "Removed after Exiting");
            else if (IsLearner(m.Member)) _up.Remove(m.Member.Address);  // downed, not left: the learner side was lost
        });
        ReceiveAny(_ => { });
    }

    public static Props Props(State state) => Akka.Actor.Props.Create(() => new LearnerDepartures(state));

    private static bool IsLearner(Member m) => m.HasRole(ClusterRoles.Learner);

    private void Graceful(Member member, string how)
    {
        if (!IsLearner(member)) return;
        _up.Remove(member.Address);
        if (_up.Count == 0) _state.Set(true, $"{member.Address} {how}");
    }

    protected override void PreStart()
        => Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
}
