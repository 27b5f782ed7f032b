using System.Text;
using System.Text.Json;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// ONI's retrieval reward model: a table from text hash (<see cref="TextHash"/>) to the critic's label. Several labels of
/// one text: the latest wins (<c>aggregate = latest</c>) or they are averaged (<c>aggregate = mean</c>). Bounded by
/// <c>max-entries</c>: the entry labelled longest ago is evicted first. Unseen texts get <c>default-reward</c> with
/// Known = false. <c>output = decision</c> reports value &gt;= <c>decision-threshold</c> as 1/0.
/// <see cref="IRewardModel.Version"/> moves on every insert call that changed the table.
/// Not thread-safe: one owner, one call at a time.
/// </summary>
public sealed class RetrievalRewardModel : IPointwiseRewardModel
{
    private sealed class Entry(UInt128 key)
    {
        public UInt128 Key { get; } = key;
        public double Last;
        public double Sum;
        public long Count;
    }

    private readonly Dictionary<UInt128, LinkedListNode<Entry>> _map = new();
    private readonly LinkedList<Entry> _order = new(); // least recently labelled first
    private long _evictions, _rejected;

    public RetrievalRewardModel(RewardModelOptions? options = null)
    {
        Options = (options ?? new RewardModelOptions { Variant = RewardModelVariant.Retrieval }).Validate();
    }

    public string Variant => "retrieval";
    public RewardModelOptions Options { get; }
    public long Version { get; private set; }
    public int Count => _map.Count;
    public long Evictions => _evictions;
    /// <summary>Labels ignored because their score was not finite.</summary>
    public long RejectedLabels => _rejected;

    public bool Contains(string text) => _map.ContainsKey(TextHash.Of(text));

    /// <summary>Inserts labels in order; returns how many were accepted (non-finite scores are rejected and counted).</summary>
    public int Add(IReadOnlyList<PointLabel> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var accepted = 0;
        foreach (var label in labels)
        {
            if (!double.IsFinite(label.Score))
            {
                _rejected++;
                continue;
            }
            var key = TextHash.Of(label.Text);
            if (_map.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddLast(node);
            }
            else
            {
                node = _order.AddLast(new Entry(key));
                _map[key] = node;
            }
            node.Value.Last = label.Score;
            node.Value.Sum += label.Score;
            node.Value.Count++;
            accepted++;
            while (_map.Count > Options.MaxEntries)
            {
                var oldest = _order.First!;
                _order.RemoveFirst();
                _map.Remove(oldest.Value.Key);
                _evictions++;
            }
        }
        if (accepted > 0) Version++;
        return accepted;
    }

    /// <summary>Inserts the batch; loss (squared error of the table's previous value, default for unseen, against the label)
    /// and accuracy (<see cref="Agreement"/>) are measured before the insert.</summary>
    public RewardModelStep TrainStep(IReadOnlyList<PointLabel> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var valid = batch.Where(l => double.IsFinite(l.Score)).ToList();
        if (valid.Count == 0)
        {
            _rejected += batch.Count;
            return RewardModelStep.Skipped(batch.Count == 0 ? "empty batch" : "no finite label scores");
        }
        var loss = valid.Average(l => Math.Pow(Value(l.Text) - l.Score, 2));
        var accuracy = Agreement(valid);
        Add(batch);
        return new RewardModelStep(loss, accuracy, true, null);
    }

    public RewardModelScore Score(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var values = new double[texts.Count];
        var known = new bool[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            if (_map.TryGetValue(TextHash.Of(texts[i]), out var node))
            {
                known[i] = true;
                var v = StoredValue(node.Value);
                values[i] = Options.Output == RewardOutput.Decision ? (v >= Options.DecisionThreshold ? 1.0 : 0.0) : v;
            }
            else values[i] = Options.DefaultReward;
        }
        return new RewardModelScore(values, known);
    }

    /// <summary>Fraction of <paramref name="heldOut"/> where (table value, or default-reward when unseen) &gt;= decision-threshold
    /// equals the label's class; NaN when empty.</summary>
    public double Agreement(IReadOnlyList<PointLabel> heldOut)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        if (heldOut.Count == 0) return double.NaN;
        var hits = heldOut.Count(l => Value(l.Text) >= Options.DecisionThreshold == l.IsPositive(Options.LabelThreshold));
        return (double)hits / heldOut.Count;
    }

    /// <summary>The table value (default-reward when unseen) as the score of each held-out label.</summary>
    public HeldOutMetrics Evaluate(IReadOnlyList<PointLabel> heldOut)
    {
        ArgumentNullException.ThrowIfNull(heldOut);
        return HeldOutMetrics.Compute(heldOut.Select(l => Value(l.Text)).ToArray(),
            heldOut.Select(l => l.IsPositive(Options.LabelThreshold)).ToArray(), Options.DecisionThreshold);
    }

    private double Value(string text) =>
        _map.TryGetValue(TextHash.Of(text), out var node) ? StoredValue(node.Value) : Options.DefaultReward;

    private double StoredValue(Entry e) => Options.Aggregate == RetrievalAggregate.Mean ? e.Sum / e.Count : e.Last;

    // ---- persistence ----------------------------------------------------------------------------------------------

    private sealed record Row(string H, double Last, double Sum, long N);

    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        RewardModelStore.WriteAtomic(Path.Combine(dir, RewardModelStore.TableFile), tmp =>
        {
            using var writer = new StreamWriter(tmp, append: false, new UTF8Encoding(false));
            foreach (var e in _order)
                writer.WriteLine(JsonSerializer.Serialize(new Row(TextHash.ToHex(e.Key), e.Last, e.Sum, e.Count), RowJson));
        });
        RewardModelStore.WriteMeta(dir, new RewardModelMeta
        {
            Variant = Variant,
            Version = Version,
            Options = Options,
            Entries = _map.Count,
            Evictions = _evictions,
            RejectedLabels = _rejected,
        });
    }

    /// <summary>Loads a table saved by <see cref="Save"/> (order, values, counts, version).</summary>
    public static RetrievalRewardModel Load(string dir)
    {
        var meta = RewardModelStore.ReadMeta(dir, RewardModelVariant.Retrieval);
        var model = new RetrievalRewardModel(meta.Options);
        var lineNo = 0;
        foreach (var line in File.ReadLines(Path.Combine(dir, RewardModelStore.TableFile)))
        {
            lineNo++;
            if (line.Length == 0) continue;
            var row = JsonSerializer.Deserialize<Row>(line, RowJson)
                      ?? throw new InvalidDataException($"{RewardModelStore.TableFile}:{lineNo}: empty row");
            if (row.N < 1 || !double.IsFinite(row.Last) || !double.IsFinite(row.Sum))
                throw new InvalidDataException($"{RewardModelStore.TableFile}:{lineNo}: invalid row");
            var key = TextHash.ParseHex(row.H);
            if (model._map.ContainsKey(key)) throw new InvalidDataException($"{RewardModelStore.TableFile}:{lineNo}: duplicate hash {row.H}");
            var node = model._order.AddLast(new Entry(key) { Last = row.Last, Sum = row.Sum, Count = row.N });
            model._map[key] = node;
        }
        if (model._map.Count != meta.Entries)
            throw new InvalidDataException($"'{dir}': {RewardModelStore.TableFile} has {model._map.Count} entries, meta.json says {meta.Entries}");
        while (model._map.Count > model.Options.MaxEntries)
        {
            model._map.Remove(model._order.First!.Value.Key);
            model._order.RemoveFirst();
        }
        model.Version = meta.Version;
        model._evictions = meta.Evictions;
        model._rejected = meta.RejectedLabels;
        return model;
    }

    private static readonly JsonSerializerOptions RowJson = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
