using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Samples one group per credit from its own copy of the policy, tagged with the policy version that produced it
/// and the behaviour log-probs the learner needs for importance correction. Takes the newest published weights
/// between groups. Runs on a pinned dispatcher: TorchSharp dispose scopes are thread-static.
/// <para>
/// One credit of lookahead: just before it starts sampling a group it asks the buffer for the next credit, and the
/// buffer has the prompt source send that credit's prompt straight here, so the next credit and prompt arrive while
/// this group is sampled. The round trips to the buffer and the prompt source (remote ones in cluster mode) are
/// hidden behind generation instead of adding to it. It never holds more than the group being sampled plus one
/// credit; an extra grant is handed back.
/// </para>
/// <para>
/// Each credit names the oldest policy version its group may be sampled with and still be trained
/// (<see cref="Credit.MinPolicyVersion"/>). When this generator's weights are older (in cluster mode new weights reach a
/// generator node tens of milliseconds after the learner publishes them) it holds the credit until newer weights arrive,
/// at most <see cref="Settings.WeightsWait"/>, instead of sampling a group the buffer would drop as stale; after that it
/// samples anyway. In one process weights arrive before the credit that needs them, so it never waits there.
/// </para>
/// </summary>
public sealed class Generator : ReceiveActor, IWithTimers
{
    /// <param name="WeightsWait">How long a credit is held waiting for weights at least its <see cref="Credit.MinPolicyVersion"/>.</param>
    public sealed record Settings(int Threads, string Id, PolicyFactory Policy, SamplingSettings Sampling, int GroupSize, long Seed,
        TimeSpan WeightsWait = default)
    {
        /// <summary>The clock for hold and group timings (a simulation's virtual clock; else the system's).</summary>
        public TimeProvider Clock { get; init; } = TimeProvider.System;

        /// <summary>Makes this generator's sampler in PreStart; null: the policy itself (<see cref="PolicyGroupSampler"/>).</summary>
        public Func<IGroupSampler>? Sampler { get; init; }
    }

    /// <summary>A sampled group's completions; <paramref name="Busy"/> is how long the generator stays busy before it hands the group on (null: the time was already spent).</summary>
    public sealed record SampledGroup(IReadOnlyList<SampledCompletion> Completions, TimeSpan? Busy = null);

    /// <summary>Where a generator's groups come from: the policy (<see cref="PolicyGroupSampler"/>) or a simulation's cost model.</summary>
    public interface IGroupSampler : IDisposable
    {
        /// <summary>Takes <paramref name="weights"/>; false when the version was superseded before it could be read.</summary>
        bool Apply(IWeightSource weights);

        SampledGroup SampleGroup(int[] promptTokens, int groupSize, SamplingSettings sampling);
    }

    /// <summary>The real sampler: the generator's own copy of the policy, sampled on its pinned thread.</summary>
    public sealed class PolicyGroupSampler : IGroupSampler
    {
        private readonly PolicyNetwork _model;
        private readonly PolicySampler _sampler;

        public PolicyGroupSampler(Settings settings)
        {
            Learning.TorchRuntime.Configure(settings.Threads);
            _model = settings.Policy.Create(settings.Seed);
            _sampler = new PolicySampler(_model, settings.Seed);
        }

        // In place, straight from the learner's tensors (same process) or the node's staged copy.
        public bool Apply(IWeightSource weights) => WeightTransfer.Apply(_model, weights, WeightsLeaseTimeout);

        public SampledGroup SampleGroup(int[] promptTokens, int groupSize, SamplingSettings sampling)
            => new(_sampler.SampleGroup(promptTokens, groupSize, sampling));

        public void Dispose() => _model.Dispose();
    }

    private sealed record GroupDone(GeneratedGroup Generated);

    private sealed class WeightsWaitOver { public static readonly WeightsWaitOver Instance = new(); }

    /// <summary>What a generator did about credits that needed newer weights than it held (shared with tests and metrics).</summary>
    public sealed class Counter
    {
        private long _waited, _waitedTicks, _sampledOld;
        /// <summary>Credits held until newer weights came.</summary>
        public long Waited => Interlocked.Read(ref _waited);
        /// <summary>Total time credits were held so.</summary>
        public TimeSpan WaitedFor => TimeSpan.FromTicks(Interlocked.Read(ref _waitedTicks));
        /// <summary>Groups sampled with weights older than their credit asked for (no newer weights within the wait).</summary>
        public long SampledOld => Interlocked.Read(ref _sampledOld);
        internal void Wait(TimeSpan waited) { Interlocked.Increment(ref _waited); Interlocked.Add(ref _waitedTicks, waited.Ticks); }
        internal void Old() => Interlocked.Increment(ref _sampledOld);
    }

    /// <summary>Credits held besides the group being sampled.</summary>
    private const int Lookahead = 1;
    /// <summary>Prompts that arrived before their credit (different senders, no ordering between them); bounded.</summary>
    private const int MaxEarlyPrompts = 8;
    /// <summary>How long applying a version waits for the learner to let go of its tensors (it holds them only between steps).</summary>
    private static readonly TimeSpan WeightsLeaseTimeout = TimeSpan.FromSeconds(60);

    private readonly Settings _settings;
    private readonly IPolicyTokenizer _tokenizer;
    private readonly IActorRef _buffer;
    private readonly IActorRef _annotator;
    private readonly IActorRef _learner;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, Credit> _credits = new();
    private readonly Dictionary<long, PromptAssigned> _earlyPrompts = new();
    private readonly Queue<(Credit Credit, PromptAssigned Prompt)> _ready = new();
    private IGroupSampler? _sampler;
    /// <summary>The credit whose group is being sampled while the generator is busy (a simulated duration); null: not busy.</summary>
    private long? _busyCredit;
    private long _version = -1;
    private bool _requested;
    private readonly Counter _counter;
    /// <summary>Since when the next ready credit has been held for newer weights (null: not held).</summary>
    private long? _heldSince;
    /// <summary>The hold's timer fired: the held credit's group is sampled with the weights there are.</summary>
    private bool _holdOver;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="learner">Answers <see cref="RequestLatestWeights"/> (the learner, or in cluster mode the node's weights bridge).</param>
    public Generator(Settings settings, IPolicyTokenizer tokenizer, IActorRef buffer, IActorRef annotator, IActorRef learner,
        Counter? counter = null)
    {
        _counter = counter ?? new Counter();
        _learner = learner;
        _settings = settings;
        _tokenizer = tokenizer;
        _buffer = buffer;
        _annotator = annotator;
        WaitingForWeights();
    }

    public static Props Props(Settings settings, IPolicyTokenizer tokenizer, IActorRef buffer, IActorRef annotator, IActorRef learner,
        Counter? counter = null)
        => Akka.Actor.Props.Create(() => new Generator(settings, tokenizer, buffer, annotator, learner, counter))
            .WithDispatcher(Dispatchers.Torch)
            .WithMailbox(Dispatchers.GeneratorMailbox);

    private int Held => _credits.Count + _ready.Count;

    protected override void PreStart()
    {
        _sampler = _settings.Sampler?.Invoke() ?? new PolicyGroupSampler(_settings);
        Context.System.EventStream.Subscribe(Self, typeof(PolicyWeights));
        Context.System.EventStream.Subscribe(Self, typeof(UpstreamChanged));
        _learner.Tell(RequestLatestWeights.Instance);
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        foreach (var id in _credits.Keys.Concat(_ready.Select(r => r.Credit.CreditId)).Concat(_busyCredit is { } b ? [b] : []))
            _buffer.Tell(new CreditReleased(id, $"generator {_settings.Id} stopped"));
        _sampler?.Dispose();
    }

    private void WaitingForWeights()
    {
        Receive<PolicyWeights>(w =>
        {
            Apply(w);
            Become(Running);
            RequestMore();
        });
        Receive<UpstreamChanged>(_ => _learner.Tell(RequestLatestWeights.Instance));
    }

    private void Running()
    {
        Receive<PolicyWeights>(w =>
        {
            Apply(w);
            Pump();  // a credit held for these weights goes now
        });
        Receive<GroupDone>(done =>
        {
            _busyCredit = null;
            _annotator.Tell(done.Generated);
            Pump();
        });
        Receive<WeightsWaitOver>(_ =>
        {
            if (_heldSince is null) return;  // the held credit went (its upstream changed)
            _holdOver = true;
            Pump();
        });
        Receive<Credit>(credit =>
        {
            _requested = false;
            if (Held >= Lookahead)
            {
                // A second grant (a request repeated after the buffer moved): handed back, its slot reopens.
                _buffer.Tell(new CreditReleased(credit.CreditId, $"generator {_settings.Id} already holds a credit"));
                return;
            }
            if (_earlyPrompts.Remove(credit.CreditId, out var early)) _ready.Enqueue((credit, early));
            else _credits[credit.CreditId] = credit;
            Pump();
        });
        Receive<PromptAssigned>(assigned =>
        {
            if (_credits.Remove(assigned.CreditId, out var credit)) _ready.Enqueue((credit, assigned));
            else if (_earlyPrompts.Count < MaxEarlyPrompts) _earlyPrompts[assigned.CreditId] = assigned;
            else _log.Warning("Generator {0}: prompt {1} for unknown credit {2} ignored", _settings.Id, assigned.Prompt.Id, assigned.CreditId);
            Pump();
        });
        Receive<UpstreamChanged>(changed =>
        {
            // The buffer (and prompts) this generator talked to were replaced: credits of the old buffer mean nothing to
            // the new one, and a request sent to the old one will never be answered. Start over with the new ones.
            _log.Info("Generator {0}: {1} changed; asking the new one for a credit", _settings.Id, changed.Name);
            _credits.Clear();
            _earlyPrompts.Clear();
            _ready.Clear();
            _busyCredit = null;
            Timers.Cancel("busy");
            EndHold();
            _requested = false;
            RequestMore();
        });
    }

    private void RequestMore()
    {
        if (_requested || Held >= Lookahead) return;
        _requested = true;
        _buffer.Tell(new RequestCredit(_settings.Id));
    }

    private void Pump()
    {
        while (_busyCredit is null && _ready.TryPeek(out var next))
        {
            if (!WeightsFreshEnough(next.Credit)) break;
            _ready.Dequeue();
            RequestMore();  // the next credit and its prompt travel while this group is sampled
            Generate(next.Credit, next.Prompt);
        }
        RequestMore();
    }

    /// <summary>
    /// True when the credit's group may be sampled now: the weights are at least its minimum version, or the credit has
    /// been held for <see cref="Settings.WeightsWait"/> already. Otherwise the credit is held (a timer ends the wait).
    /// </summary>
    private bool WeightsFreshEnough(Credit credit)
    {
        if (credit.MinPolicyVersion <= _version || _settings.WeightsWait <= TimeSpan.Zero)
        {
            if (_heldSince is { } since) _counter.Wait(_settings.Clock.GetElapsedTime(since));
            EndHold();
            return true;
        }
        if (_holdOver)
        {
            _log.Warning("Generator {0}: no weights of v{1} or newer within {2:0.###} s (holding v{3}); sampling credit {4} anyway, " +
                "the buffer will likely drop its group as stale", _settings.Id, credit.MinPolicyVersion, _settings.WeightsWait.TotalSeconds,
                _version, credit.CreditId);
            _counter.Old();
            EndHold();
            return true;
        }
        if (_heldSince is null)
        {
            _heldSince = _settings.Clock.GetTimestamp();
            Timers.StartSingleTimer("weights-wait", WeightsWaitOver.Instance, _settings.WeightsWait);
            _learner.Tell(new NewerWeightsWanted(credit.MinPolicyVersion));
            _log.Debug("Generator {0}: credit {1} needs v{2}, holding v{3}; waiting for newer weights", _settings.Id, credit.CreditId,
                credit.MinPolicyVersion, _version);
        }
        return false;
    }

    private void EndHold()
    {
        if (_heldSince is null && !_holdOver) return;
        _heldSince = null;
        _holdOver = false;
        Timers.Cancel("weights-wait");
    }

    private void Apply(PolicyWeights weights)
    {
        if (weights.Version <= _version) return;
        // False: already superseded, and the newer version's message is on its way, so the model stays on the version it holds.
        if (!_sampler!.Apply(weights.Weights)) return;
        _version = weights.Version;
    }

    private void Generate(Credit credit, PromptAssigned assigned)
    {
        try
        {
            var (group, busy) = Sample(credit, assigned.Prompt);
            var generated = new GeneratedGroup(credit.CreditId, group, assigned.Cursor);
            if (busy is { } duration && duration > TimeSpan.Zero)
            {
                // A simulated duration: the group leaves when the generator would have finished sampling it.
                _busyCredit = credit.CreditId;
                Timers.StartSingleTimer("busy", new GroupDone(generated), duration);
                return;
            }
            _annotator.Tell(generated);
        }
        catch (Exception e)
        {
            _log.Error(e, "Generator {0} failed on prompt {1}", _settings.Id, assigned.Prompt.Id);
            _buffer.Tell(new CreditReleased(credit.CreditId, $"generation failed: {e.Message}"));
        }
    }

    private (RolloutGroup Group, TimeSpan? Busy) Sample(Credit credit, Prompt prompt)
    {
        var started = _settings.Clock.GetTimestamp();
        var promptTokens = _tokenizer.EncodePrompt(prompt);
        var room = _settings.Policy.ContextLength - promptTokens.Length;
        if (room < 1)
            throw new InvalidOperationException($"prompt {prompt.Id} has {promptTokens.Length} tokens; the context holds {_settings.Policy.ContextLength}");
        var sampling = _settings.Sampling with { MaxTokens = Math.Min(_settings.Sampling.MaxTokens, room) };
        var sampled = _sampler!.SampleGroup(promptTokens, _settings.GroupSize, sampling);
        var completions = sampled.Completions;

        var groupId = $"v{_version}-c{credit.CreditId}-{_settings.Id}";
        var rollouts = ImmutableArray.CreateBuilder<Rollout>(completions.Count);
        for (var i = 0; i < completions.Count; i++)
        {
            var c = completions[i];
            rollouts.Add(new Rollout($"{groupId}-{i}", groupId, prompt.Id, _version, promptTokens, c.Tokens, c.LogProbs,
                _tokenizer.Decode(c.Tokens), c.Truncated));
        }
        var elapsed = sampled.Busy ?? _settings.Clock.GetElapsedTime(started);
        return (new RolloutGroup(groupId, prompt, _version, rollouts.MoveToImmutable(), elapsed), sampled.Busy);
    }
}

/// <summary>
/// A generator's mailbox: new policy weights are taken before credits and prompts already waiting, so the next group is
/// sampled with the newest weights the node has, not with ones a step older (which the buffer would then drop as stale).
/// The order among all other messages is kept (stable).
/// </summary>
public sealed class GeneratorMailbox(Akka.Actor.Settings settings, Akka.Configuration.Config config)
    : Akka.Dispatch.UnboundedStablePriorityMailbox(settings, config)
{
    protected override int PriorityGenerator(object message) => message is PolicyWeights ? 0 : 1;
}
