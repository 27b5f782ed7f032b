using System.Diagnostics;
using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Oni.RewardModels;

namespace Pipeline.Runtime.Actors.Oni;

/// <summary>
/// ONI's intrinsic reward: the online reward model scores every completion at once, so no rollout waits for the critic.
/// r_int = RM(text) / N(text)^beta, where N counts the text's occurrences in the group (ONI's count-based damping);
/// the total is c_ext * r_ext + c_int * r_int with c_int this source's weight. An unseen text (retrieval), or any text
/// before the first trained version, gets the model's configured default and says so in its details.
/// The source holds its own copy of the model and swaps in each published version (<see cref="Update"/>).
/// </summary>
public sealed class IntrinsicRewardSource : IRewardSource, IReportsMetrics, IDisposable
{
    private readonly object _gate = new();
    private readonly Func<string, IRewardModel> _load;
    private readonly double _beta;
    private IRewardModel _model;
    private long _scored, _known, _zero;
    private double _rawSum, _normSum;

    private readonly IDisposable? _owned;
    private readonly RewardModelInput _input;

    /// <param name="input">What the model reads for a completion (oni.reward-model.input), as its labels were made.</param>
    public IntrinsicRewardSource(string name, IRewardModel initial, Func<string, IRewardModel> load, double beta, IDisposable? owned = null,
        RewardModelInput input = RewardModelInput.Completion)
    {
        _owned = owned;
        _input = input;
        Name = name;
        _model = initial;
        _load = load;
        _beta = beta;
    }

    public string Name { get; }
    public RewardSourceKind Kind => RewardSourceKind.Fast;
    public (double Min, double Max) Range => (-1e6, 1e6);
    public long ModelVersion { get { lock (_gate) return _model.Version; } }

    /// <summary>Loads a published version (off the scoring path) and swaps it in; older or equal versions are ignored.</summary>
    public void Update(RewardModelTrainer.RewardModelPublished published)
    {
        if (published.Version <= ModelVersion) return;
        var next = _load(published.Dir);
        IRewardModel old;
        lock (_gate)
        {
            old = _model;
            _model = next;
        }
        (old as IDisposable)?.Dispose();
    }

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
        => Task.Run<IReadOnlyList<RewardSignal>>(() =>
        {
            var started = Stopwatch.GetTimestamp();
            var texts = group.Rollouts.Select(r => r.CompletionText).ToList();
            RewardModelScore score;
            long version;
            lock (_gate)
            {
                cancellationToken.ThrowIfCancellationRequested();
                score = _model.Score(_input == RewardModelInput.Completion ? texts
                    : texts.Select(t => RewardModelInputs.Text(_input, group.Prompt.Text, t)).ToList());
                version = _model.Version;
            }
            var counts = texts.GroupBy(t => t, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var latency = Stopwatch.GetElapsedTime(started);
            var signals = new RewardSignal[texts.Count];
            double rawSum = 0, normSum = 0;
            for (var i = 0; i < texts.Count; i++)
            {
                var raw = score.Values[i];
                var value = raw / Math.Pow(counts[texts[i]], _beta);
                signals[i] = RewardSignal.Ok(Name, value, latency, score.Known[i]
                    ? $"rm v{version} raw={raw:0.###} n={counts[texts[i]]}"
                    : $"default (rm v{version}: unseen or untrained) n={counts[texts[i]]}");
                Interlocked.Increment(ref _scored);
                if (score.Known[i]) Interlocked.Increment(ref _known);
                if (value == 0) Interlocked.Increment(ref _zero);
                rawSum += raw;
                normSum += value;
            }
            lock (_gate) { _rawSum += rawSum; _normSum += normSum; }
            return signals;
        }, cancellationToken);

    public void AddMetrics(IDictionary<string, double> data)
    {
        double raw, norm;
        lock (_gate) { raw = _rawSum; norm = _normSum; _rawSum = _normSum = 0; }
        var scored = Interlocked.Exchange(ref _scored, 0);
        var known = Interlocked.Exchange(ref _known, 0);
        var zero = Interlocked.Exchange(ref _zero, 0);
        data["intrinsic/raw_mean"] = scored > 0 ? raw / scored : double.NaN;
        data["intrinsic/norm_mean"] = scored > 0 ? norm / scored : double.NaN;
        data["intrinsic/sparsity"] = scored > 0 ? zero / (double)scored : double.NaN;
        data["intrinsic/known_frac"] = scored > 0 ? known / (double)scored : double.NaN;
        data["intrinsic/model_version"] = ModelVersion;
    }

    public void Dispose()
    {
        lock (_gate) (_model as IDisposable)?.Dispose();
        _owned?.Dispose();
    }
}

/// <summary>Hands every published reward-model version to the intrinsic source's copy.</summary>
public sealed class RewardModelSubscriber : ReceiveActor
{
    public RewardModelSubscriber(IntrinsicRewardSource source)
    {
        Receive<RewardModelTrainer.RewardModelPublished>(source.Update);
    }

    public static Props Props(IntrinsicRewardSource source) => Akka.Actor.Props.Create(() => new RewardModelSubscriber(source));

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(RewardModelTrainer.RewardModelPublished));
    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
}
