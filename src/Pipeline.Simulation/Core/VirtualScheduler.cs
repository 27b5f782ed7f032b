using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace Pipeline.Simulation.Core;

/// <summary>
/// The ActorSystem's scheduler in a simulation (<c>akka.scheduler.implementation</c>): every ScheduleTellOnce, actor timer
/// and repeated task is an entry of the loop's <see cref="VirtualClock"/>, and Now is virtual time. Modelled on Akka.TestKit's
/// TestScheduler, except that time is moved by the simulation loop instead of by a test.
/// </summary>
public sealed class VirtualScheduler : IScheduler, IAdvancedScheduler
{
    private readonly VirtualClock _clock;

    /// <summary>The constructor Akka calls: the system's config names the loop.</summary>
    public VirtualScheduler(Config config, ILoggingAdapter log)
    {
        _clock = SimulationLoop.Find(config.GetString(SimulatedActorSystem.LoopKey)).Clock;
    }

    public DateTimeOffset Now => _clock.GetUtcNow();
    public TimeSpan MonotonicClock => _clock.Elapsed;
    public TimeSpan HighResMonotonicClock => _clock.Elapsed;
    public IAdvancedScheduler Advanced => this;

    private void Once(TimeSpan delay, Action action, ICancelable? cancelable)
        => _clock.Schedule(delay, () => { if (cancelable is not { IsCancellationRequested: true }) action(); });

    private void Repeatedly(TimeSpan initial, TimeSpan interval, Action action, ICancelable? cancelable)
    {
        // A zero interval would never let time move: one tick is the least a repetition takes.
        var step = interval > TimeSpan.Zero ? interval : TimeSpan.FromTicks(1);
        void Fire()
        {
            if (cancelable is { IsCancellationRequested: true }) return;
            action();
            _clock.Schedule(step, Fire);
        }
        _clock.Schedule(initial, Fire);
    }

    public void ScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender)
        => Once(delay, () => receiver.Tell(message, sender), null);

    public void ScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable)
        => Once(delay, () => receiver.Tell(message, sender), cancelable);

    public void ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender)
        => Repeatedly(initialDelay, interval, () => receiver.Tell(message, sender), null);

    public void ScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender,
        ICancelable cancelable)
        => Repeatedly(initialDelay, interval, () => receiver.Tell(message, sender), cancelable);

    public void ScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) => Once(delay, action, cancelable);
    public void ScheduleOnce(TimeSpan delay, Action action) => Once(delay, action, null);
    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable)
        => Repeatedly(initialDelay, interval, action, cancelable);
    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action) => Repeatedly(initialDelay, interval, action, null);

    public void ScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) => Once(delay, action.Run, cancelable);
    public void ScheduleOnce(TimeSpan delay, IRunnable action) => Once(delay, action.Run, null);
    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable)
        => Repeatedly(initialDelay, interval, action.Run, cancelable);
    public void ScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action) => Repeatedly(initialDelay, interval, action.Run, null);
}
