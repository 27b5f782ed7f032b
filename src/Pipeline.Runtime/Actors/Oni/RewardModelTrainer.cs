using Akka.Actor;
using Akka.Event;
using Pipeline.Oni.RewardModels;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors.Oni;

/// <summary>
/// Trains the reward model online from the critic's labels, on ONI's schedule: <c>k</c> gradient steps per new label batch
/// until <c>warmup</c> labels exist, then a fixed number of steps per learner step (each published policy version). Every
/// <c>heldout-every</c>-th label is kept out of training to measure agreement with the critic. New versions are saved and
/// published on the event stream (<see cref="RewardModelPublished"/>) for the annotators' copies.
/// Pointwise variants train on the labels as they come; the ranking variant on pairs of labels of the same prompt
/// (the higher critic score preferred; equal scores are a tie, 0.5).
/// </summary>
public sealed class RewardModelTrainer : ReceiveActor, IWithTimers
{
    public sealed record Settings(int StepsPerLabelBatch, int WarmupLabels, int StepsPerLearnerStep, int BatchSize, int HeldOutEvery,
        int PublishEveryVersions, string PublishDir, int Seed, int MaxLabels = 50_000)
    {
        /// <summary>Where the label sets are kept with the run (written at every publication; read back on resume).</summary>
        public string? LabelsDir { get; init; }
        /// <summary>Labels that arrive within this window form one "new label batch" (ONI trains k steps per batch).</summary>
        public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMilliseconds(250);
        /// <summary>At most one publication (save + the annotators' reload) per interval.</summary>
        public TimeSpan PublishMinInterval { get; init; } = TimeSpan.FromSeconds(1);
        public bool Restore { get; init; }
    }

    /// <summary>A new reward-model version, saved in <paramref name="Dir"/>.</summary>
    public sealed record RewardModelPublished(long Version, string Dir) : Core.Protocol.IPipelineMessage;
    public sealed record SaveTo(string Dir) : Core.Protocol.IPipelineMessage;
    public sealed record Saved(string Dir) : Core.Protocol.IPipelineMessage;

    private readonly IRewardModel _model;
    private readonly Settings _s;
    private readonly OniStats _stats;
    private readonly Random _random;
    private readonly List<PointLabel> _train = [];
    private readonly List<PointLabel> _heldOut = [];
    private readonly Dictionary<string, List<PointLabel>> _byPrompt = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _received;
    private long _publishedVersion;
    private double _loss = double.NaN, _acc = double.NaN;
    private HeldOutMetrics _heldOutMetrics = HeldOutMetrics.Empty;
    private bool _newLabels;
    private DateTime _lastPublished = DateTime.MinValue;
    private sealed class TrainTick { public static readonly TrainTick Instance = new(); }

    public ITimerScheduler Timers { get; set; } = null!;

    public RewardModelTrainer(IRewardModel model, Settings settings, OniStats stats)
    {
        _model = model;
        _s = settings;
        _stats = stats;
        _random = new Random(settings.Seed);
        _publishedVersion = model.Version;
        Receive<CriticLabeller.CriticLabels>(OnLabels);
        Receive<TrainTick>(_ =>
        {
            if (!_newLabels) return;
            _newLabels = false;
            if (_train.Count < _s.WarmupLabels) Train(_s.StepsPerLabelBatch);
        });
        Receive<PolicyWeights>(_ =>
        {
            if (_train.Count >= _s.WarmupLabels) Train(_s.StepsPerLearnerStep);
        });
        Receive<SaveTo>(m =>
        {
            _model.Save(Path.Combine(m.Dir, "model"));
            LabelFile.Write(Path.Combine(m.Dir, "labels-train.jsonl"), _train);
            LabelFile.Write(Path.Combine(m.Dir, "labels-heldout.jsonl"), _heldOut);
            Sender.Tell(new Saved(m.Dir));
        });
    }

    public static Props Props(IRewardModel model, Settings settings, OniStats stats)
        => Akka.Actor.Props.Create(() => new RewardModelTrainer(model, settings, stats));

    /// <summary>Restores the label sets written by <see cref="SaveTo"/> (the model itself is loaded by the caller).</summary>
    private void Restore(string dir)
    {
        _train.AddRange(LabelFile.Read(Path.Combine(dir, "labels-train.jsonl")));
        _heldOut.AddRange(LabelFile.Read(Path.Combine(dir, "labels-heldout.jsonl")));
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(PolicyWeights));
        if (_s.Restore && _s.LabelsDir is { } dir)
        {
            Restore(dir);
            _received = _train.Count + _heldOut.Count;
            _log.Info("Reward model resumed at version {0} with {1} training and {2} held-out labels", _model.Version, _train.Count, _heldOut.Count);
            Report();
        }
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        (_model as IDisposable)?.Dispose();
    }

    private void OnLabels(CriticLabeller.CriticLabels batch)
    {
        foreach (var l in batch.Labels)
        {
            _received++;
            var label = new PointLabel(l.Text, l.Score);
            if (_s.HeldOutEvery > 0 && _received % _s.HeldOutEvery == 0) { _heldOut.Add(label); continue; }
            _train.Add(label);
            if (!_byPrompt.TryGetValue(l.PromptId, out var same)) _byPrompt[l.PromptId] = same = [];
            same.Add(label);
        }
        if (_train.Count > _s.MaxLabels) _train.RemoveRange(0, _train.Count - _s.MaxLabels);
        if (_heldOut.Count > _s.MaxLabels / 4) _heldOut.RemoveRange(0, _heldOut.Count - _s.MaxLabels / 4);
        if (_train.Count < _s.WarmupLabels && !_newLabels)
        {
            _newLabels = true;
            Timers.StartSingleTimer("batch", TrainTick.Instance, _s.BatchWindow);
        }
        Report();
    }

    private void Train(int steps)
    {
        for (var i = 0; i < steps && _train.Count > 0; i++)
        {
            RewardModelStep step;
            switch (_model)
            {
                case IPointwiseRewardModel pointwise:
                    step = pointwise.TrainStep(Sample(_train));
                    break;
                case IPairwiseRewardModel pairwise:
                    var pairs = Pairs();
                    if (pairs.Count == 0) return;
                    step = pairwise.TrainStep(pairs);
                    break;
                default:
                    throw new InvalidOperationException($"reward model '{_model.Variant}' cannot be trained");
            }
            if (step.Applied) (_loss, _acc) = (step.Loss, step.Accuracy);
        }
        if (_model.Version - _publishedVersion >= _s.PublishEveryVersions && DateTime.UtcNow - _lastPublished >= _s.PublishMinInterval) Publish();
        Report();
    }

    private List<PointLabel> Sample(List<PointLabel> from)
    {
        if (from.Count <= _s.BatchSize) return [.. from];
        var batch = new List<PointLabel>(_s.BatchSize);
        for (var i = 0; i < _s.BatchSize; i++) batch.Add(from[_random.Next(from.Count)]);
        return batch;
    }

    private List<PairLabel> Pairs()
    {
        var groups = _byPrompt.Values.Where(g => g.Count >= 2).ToList();
        var pairs = new List<PairLabel>(_s.BatchSize);
        for (var i = 0; i < _s.BatchSize && groups.Count > 0; i++)
        {
            var g = groups[_random.Next(groups.Count)];
            var a = g[_random.Next(g.Count)];
            var b = g[_random.Next(g.Count)];
            if (ReferenceEquals(a, b)) continue;
            pairs.Add(new PairLabel(a.Text, b.Text, a.Score > b.Score ? 1.0 : a.Score < b.Score ? 0.0 : 0.5));
        }
        return pairs;
    }

    private void Publish()
    {
        var dir = Path.Combine(_s.PublishDir, $"v{_model.Version:D8}");
        _model.Save(dir);
        _publishedVersion = _model.Version;
        _lastPublished = DateTime.UtcNow;
        _heldOutMetrics = _model is IPointwiseRewardModel p ? p.Evaluate(_heldOut) : HeldOutMetrics.Empty;
        Context.System.EventStream.Publish(new RewardModelPublished(_model.Version, dir));
        if (_s.LabelsDir is { } labels)
        {
            LabelFile.Write(Path.Combine(labels, "labels-train.jsonl"), _train);
            LabelFile.Write(Path.Combine(labels, "labels-heldout.jsonl"), _heldOut);
        }
        // Keep the two newest versions: a reader may still be loading the previous one.
        foreach (var old in Directory.GetDirectories(_s.PublishDir, "v*").Order(StringComparer.Ordinal).SkipLast(2))
        {
            try { Directory.Delete(old, recursive: true); }
            catch (IOException e) { _log.Debug("could not remove {0}: {1}", old, e.Message); }
        }
    }

    private void Report() => _stats.Trainer(_train.Count, _heldOut.Count, _model.Version, _loss, _acc, _heldOutMetrics, _publishedVersion);
}

/// <summary>Labels as JSON lines {"text": ..., "score": ...}.</summary>
public static class LabelFile
{
    private sealed record Row(string Text, double Score);

    public static void Write(string path, IEnumerable<PointLabel> labels)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        File.WriteAllLines(tmp, labels.Select(l => System.Text.Json.JsonSerializer.Serialize(new Row(l.Text, l.Score))));
        File.Move(tmp, path, overwrite: true);
    }

    public static IEnumerable<PointLabel> Read(string path)
        => File.Exists(path)
            ? File.ReadLines(path).Where(l => l.Length > 0).Select(l => System.Text.Json.JsonSerializer.Deserialize<Row>(l)!).Select(r => new PointLabel(r.Text, r.Score)).ToList()
            : [];
}
