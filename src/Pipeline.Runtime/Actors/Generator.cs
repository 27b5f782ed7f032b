using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Learning.Model;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Samples one group per credit from its own copy of the policy, tagged with the policy version that produced it
/// and the behaviour log-probs the learner needs for importance correction. Takes the newest published weights
/// between groups. Runs on a pinned dispatcher: TorchSharp dispose scopes are thread-static.
/// </summary>
public sealed class Generator : ReceiveActor
{
    public sealed record Settings(int Threads, string Id, PolicyConfig Policy, SamplingSettings Sampling, int GroupSize, long Seed);

    private readonly Settings _settings;
    private readonly PolicyTokenizer _tokenizer;
    private readonly IActorRef _buffer;
    private readonly IActorRef _prompts;
    private readonly IActorRef _annotator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private PolicyModel? _model;
    private PolicySampler? _sampler;
    private long _version = -1;
    private Credit? _credit;

    private readonly IActorRef _learner;

    public Generator(Settings settings, PolicyTokenizer tokenizer, IActorRef buffer, IActorRef prompts, IActorRef annotator, IActorRef learner)
    {
        _learner = learner;
        _settings = settings;
        _tokenizer = tokenizer;
        _buffer = buffer;
        _prompts = prompts;
        _annotator = annotator;
        WaitingForWeights();
    }

    public static Props Props(Settings settings, PolicyTokenizer tokenizer, IActorRef buffer, IActorRef prompts, IActorRef annotator, IActorRef learner)
        => Akka.Actor.Props.Create(() => new Generator(settings, tokenizer, buffer, prompts, annotator, learner))
            .WithDispatcher(Dispatchers.Torch);

    protected override void PreStart()
    {
        Learning.TorchRuntime.Configure(_settings.Threads);
        _model = new PolicyModel(_settings.Policy, _settings.Seed);
        _sampler = new PolicySampler(_model, _settings.Seed);
        Context.System.EventStream.Subscribe(Self, typeof(PolicyWeights));
        Context.System.EventStream.Subscribe(Self, typeof(UpstreamChanged));
        _learner.Tell(RequestLatestWeights.Instance);
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        if (_credit is { } c) _buffer.Tell(new CreditReleased(c.CreditId, $"generator {_settings.Id} stopped"));
        _model?.Dispose();
    }

    private void WaitingForWeights()
    {
        Receive<PolicyWeights>(w =>
        {
            Apply(w);
            Become(Running);
            _buffer.Tell(new RequestCredit(_settings.Id));
        });
        Receive<UpstreamChanged>(_ => _learner.Tell(RequestLatestWeights.Instance));
    }

    private void Running()
    {
        Receive<PolicyWeights>(Apply);
        Receive<Credit>(credit =>
        {
            if (_credit is not null)
            {
                // One credit at a time: a second grant (a request repeated after the buffer moved) is handed back.
                _buffer.Tell(new CreditReleased(credit.CreditId, $"generator {_settings.Id} already holds a credit"));
                return;
            }
            _credit = credit;
            _prompts.Tell(new RequestPrompt(_settings.Id, credit.CreditId));
        });
        Receive<PromptAssigned>(HandlePrompt);
        Receive<UpstreamChanged>(changed =>
        {
            // The buffer (and prompts) this generator talked to were replaced: a credit of the old buffer means nothing to
            // the new one, and a request sent to the old one will never be answered. Start over with the new ones.
            _log.Info("Generator {0}: {1} changed; asking the new one for a credit", _settings.Id, changed.Name);
            _credit = null;
            _buffer.Tell(new RequestCredit(_settings.Id));
        });
    }

    private void Apply(PolicyWeights weights)
    {
        if (weights.Version <= _version) return;
        WeightTransfer.Import(_model!, weights.Snapshot);
        _version = weights.Version;
    }

    private void HandlePrompt(PromptAssigned assigned)
    {
        if (_credit is not { } credit)
        {
            _log.Warning("Generator {0}: prompt {1} arrived without a credit (the buffer moved); ignored", _settings.Id, assigned.Prompt.Id);
            return;
        }
        _credit = null;
        try
        {
            var group = Sample(credit, assigned.Prompt);
            _annotator.Tell(new GeneratedGroup(credit.CreditId, group, assigned.Cursor));
        }
        catch (Exception e)
        {
            _log.Error(e, "Generator {0} failed on prompt {1}", _settings.Id, assigned.Prompt.Id);
            _buffer.Tell(new CreditReleased(credit.CreditId, $"generation failed: {e.Message}"));
        }
        _buffer.Tell(new RequestCredit(_settings.Id));
    }

    private RolloutGroup Sample(Credit credit, Prompt prompt)
    {
        var started = Stopwatch.GetTimestamp();
        var promptTokens = _tokenizer.EncodePrompt(prompt.Text);
        var room = _settings.Policy.ContextLength - promptTokens.Length;
        if (room < 1)
            throw new InvalidOperationException($"prompt {prompt.Id} has {promptTokens.Length} tokens; the context holds {_settings.Policy.ContextLength}");
        var sampling = _settings.Sampling with { MaxTokens = Math.Min(_settings.Sampling.MaxTokens, room) };
        var completions = _sampler!.SampleGroup(promptTokens, _settings.GroupSize, sampling);

        var groupId = $"v{_version}-c{credit.CreditId}-{_settings.Id}";
        var rollouts = ImmutableArray.CreateBuilder<Rollout>(completions.Count);
        for (var i = 0; i < completions.Count; i++)
        {
            var c = completions[i];
            rollouts.Add(new Rollout($"{groupId}-{i}", groupId, prompt.Id, _version, promptTokens, c.Tokens, c.LogProbs,
                _tokenizer.Decode(c.Tokens), c.Truncated));
        }
        return new RolloutGroup(groupId, prompt, _version, rollouts.MoveToImmutable(), Stopwatch.GetElapsedTime(started));
    }
}
