using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Sampling;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Greedy-decodes the held-out split with a given weight snapshot on its own model copy, so evaluation never
/// blocks the learner, and reports the task's scores (for SQL: execution accuracy and exact match per language).
/// </summary>
public sealed class Evaluator : ReceiveActor
{
    public sealed record Settings(int Threads, PolicyFactory Policy, int MaxTokens, int Limit, long Seed)
    {
        /// <summary>Abandons an evaluation in progress (checked between chunks of prompts) when the run is interrupted.</summary>
        public CancellationToken Interrupt { get; init; }
    }

    private readonly Settings _settings;
    private readonly IPolicyTokenizer _tokenizer;
    private readonly IPipelineTask _task;
    private readonly IActorRef _metrics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private PolicyNetwork? _model;
    private PolicySampler? _sampler;

    public Evaluator(Settings settings, IPolicyTokenizer tokenizer, IPipelineTask task, IActorRef metrics)
    {
        _settings = settings;
        _tokenizer = tokenizer;
        _task = task;
        _metrics = metrics;
        Receive<EvaluatePolicy>(Handle);
    }

    public static Props Props(Settings settings, IPolicyTokenizer tokenizer, IPipelineTask task, IActorRef metrics)
        => Akka.Actor.Props.Create(() => new Evaluator(settings, tokenizer, task, metrics)).WithDispatcher(Dispatchers.Torch);

    protected override void PreStart()
    {
        Learning.TorchRuntime.Configure(_settings.Threads);
        _model = _settings.Policy.Create(_settings.Seed);
        _sampler = new PolicySampler(_model, _settings.Seed);
    }

    protected override void PostStop() => _model?.Dispose();

    private void Handle(EvaluatePolicy request)
    {
        var started = Stopwatch.GetTimestamp();
        WeightTransfer.Import(_model!, request.Snapshot);
        EvalReport report;
        try
        {
            report = Evaluate(_model!, _sampler!, _tokenizer, _task, _settings, cancel: _settings.Interrupt);
        }
        catch (OperationCanceledException) when (_settings.Interrupt.IsCancellationRequested)
        {
            _log.Info("Evaluation '{0}' abandoned: the run was interrupted", request.Label);
            return;
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        _log.Info("Evaluation '{0}' (version {1}): accuracy {2:P1}, exact match {3:P1} in {4:0.0}s",
            request.Label, request.Snapshot.Version, report.Overall.Accuracy, report.Overall.ExactMatch, elapsed.TotalSeconds);

        var data = new Dictionary<string, double>
        {
            ["eval/accuracy"] = report.Overall.Accuracy,
            ["eval/exact_match"] = report.Overall.ExactMatch,
            ["eval/count"] = report.Overall.Count,
            ["timing_s/eval"] = elapsed.TotalSeconds,
        };
        foreach (var (slice, score) in report.Slices)
        {
            data[$"eval/{slice}/accuracy"] = score.Accuracy;
            data[$"eval/{slice}/exact_match"] = score.ExactMatch;
        }
        _metrics.Tell(new MetricsReport(request.Step, data));
        Sender.Tell(new EvaluationCompleted(request.Label, request.Step, request.Snapshot.Version, report, elapsed));
    }

    /// <summary>Greedy decoding of the held-out split; shared with the `eval` command.</summary>
    public static EvalReport Evaluate(PolicyNetwork model, PolicySampler sampler, IPolicyTokenizer tokenizer, IPipelineTask task, Settings settings,
        Action<Demonstration, string>? onPrediction = null, CancellationToken cancel = default)
    {
        var examples = settings.Limit > 0 ? task.HeldOut.Take(settings.Limit).ToList() : task.HeldOut.ToList();
        var prompts = examples.Select(e => tokenizer.EncodePrompt(e.Prompt)).ToList();
        var greedy = new SamplingSettings(0, 1, settings.MaxTokens, [.. tokenizer.StopTokens]);
        var predictions = new List<(Demonstration, string)>(examples.Count);
        const int chunk = 64;
        for (var i = 0; i < prompts.Count; i += chunk)
        {
            cancel.ThrowIfCancellationRequested();
            var part = prompts.Skip(i).Take(chunk).ToList();
            var outputs = sampler.Generate(part, greedy);
            for (var j = 0; j < outputs.Count; j++)
            {
                var text = tokenizer.Decode(outputs[j].Tokens);
                predictions.Add((examples[i + j], text));
                onPrediction?.Invoke(examples[i + j], text);
            }
        }
        return task.Evaluate(predictions);
    }
}
