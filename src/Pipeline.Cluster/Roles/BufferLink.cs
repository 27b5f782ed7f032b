using Akka.Actor;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Cluster.Roles;

/// <summary>
/// The annotation stage's local stand-in for the remote replay buffer: forwards every message (sender kept) and counts
/// the annotated groups this node delivered. It is also where a later slice re-resolves the buffer after its
/// singleton moves.
/// </summary>
public sealed class BufferLink : ReceiveActor
{
    public sealed class Counter
    {
        private long _groups;
        public long Groups => Interlocked.Read(ref _groups);
        internal void Add() => Interlocked.Increment(ref _groups);
    }

    public BufferLink(IActorRef buffer, Counter counter)
    {
        Receive<AnnotatedGroup>(g => { counter.Add(); buffer.Forward(g); });
        ReceiveAny(buffer.Forward);
    }

    public static Props Props(IActorRef buffer, Counter counter) => Akka.Actor.Props.Create(() => new BufferLink(buffer, counter));
}
