using System.Collections.Frozen;
using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;
using static Pipeline.Runtime.Actors.SlowSourcePool;
using Labeller = Pipeline.Runtime.Actors.Oni.CriticLabeller;
using RmTrainer = Pipeline.Runtime.Actors.Oni.RewardModelTrainer;

namespace Pipeline.Cluster;

/// <summary>
/// The field layout of every <see cref="IPipelineMessage"/>, one writer and one reader per type, and its manifest.
/// <para>A manifest is a short stable code with a layout version (<c>rg1</c>), never a CLR type name: renaming a class
/// does not change the wire, and a payload can only ever become one of the types listed here. Change a type's fields
/// by registering a new manifest (<c>rg2</c>) and keeping the old reader while mixed versions may still run.</para>
/// </summary>
internal static class WireCodecs
{
    internal sealed record Codec(Type Type, string Manifest, Action<BinaryWriter, object> Write, Func<BinaryReader, object> Read);

    private static readonly List<Codec> Registered = [];

    public static readonly FrozenDictionary<Type, Codec> ByType;
    public static readonly FrozenDictionary<string, Codec> ByManifest;

    static WireCodecs()
    {
        // ---- Pipeline.Core.Protocol ----
        Add("pr1", WritePrompt, ReadPrompt);
        Add("ro1", WriteRollout, ReadRollout);
        Add("rg1", WriteGroup, ReadGroup);
        Add<MetricsReport>("mr1",
            (w, m) => { w.Write(m.Step); w.WriteMap(m.Data, m.Data.Count, static (w, v) => w.Write(v)); },
            r => new MetricsReport(r.ReadInt64(), r.ReadMap(static r => r.ReadDouble())));

        // ---- admission ----
        Add<RequestCredit>("rqc1", (w, m) => w.Write(m.GeneratorId), r => new RequestCredit(r.ReadString()));
        Add<Credit>("cr2", (w, m) => { w.Write(m.CreditId); w.Write(m.LearnerVersion); w.Write(m.MinPolicyVersion); },
            r => new Credit(r.ReadInt64(), r.ReadInt64(), r.ReadInt64()));
        Add<CreditReleased>("crl1", (w, m) => { w.Write(m.CreditId); w.Write(m.Reason); }, r => new CreditReleased(r.ReadInt64(), r.ReadString()));

        // ---- prompts ----
        Add<RequestPrompt>("rqp2", (w, m) => { w.Write(m.RequesterId); w.Write(m.CreditId); }, r => new RequestPrompt(r.ReadString(), r.ReadInt64()));
        Add<PromptSettled>("pst1", (w, m) => { w.Write(m.CreditId); w.Write(m.Lost); }, r => new PromptSettled(r.ReadInt64(), r.ReadBoolean()));
        Add<PromptAssigned>("pa2", (w, m) => { WritePrompt(w, m.Prompt); w.Write(m.Cursor); w.Write(m.CreditId); },
            r => new PromptAssigned(ReadPrompt(r), r.ReadInt64(), r.ReadInt64()));

        // ---- rollouts and rewards ----
        Add<GeneratedGroup>("gg1",
            (w, m) => { w.Write(m.CreditId); WriteGroup(w, m.Group); w.Write(m.PromptCursor); },
            r => new GeneratedGroup(r.ReadInt64(), ReadGroup(r), r.ReadInt64()));
        Add("rw1", WriteRolloutRewards, ReadRolloutRewards);
        Add("ag1", WriteAnnotated, ReadAnnotated);

        // ---- learner <-> buffer ----
        Add<RequestBatch>("rqb1",
            (w, m) => { w.Write(m.RequestId); w.Write(m.Groups); w.Write(m.LearnerVersion); },
            r => new RequestBatch(r.ReadInt64(), r.ReadInt32(), r.ReadInt64()));
        Add<TrainingBatch>("tb1",
            (w, m) => { w.Write(m.RequestId); w.WriteImmutable(m.Groups, WriteAnnotated); WriteBufferStats(w, m.Stats); },
            r => new TrainingBatch(r.ReadInt64(), r.ReadImmutable(ReadAnnotated), ReadBufferStats(r)));
        Add("bs1", WriteBufferStats, ReadBufferStats);
        Add<PolicyVersionAdvanced>("pva1", (w, m) => w.Write(m.Version), r => new PolicyVersionAdvanced(r.ReadInt64()));

        // ---- weights ----
        // PolicyWeights stays in-process (its source is a node's own tensors); versions cross nodes as the stream below.
        Add<WeightsAvailable>("wav1", (w, m) => w.Write(m.Version), r => new WeightsAvailable(r.ReadInt64()));
        Add<WeightsVersionQuery>("wvq1", static (_, _) => { }, static _ => WeightsVersionQuery.Instance);
        Add<WeightStreamStart>("wss1",
            (w, m) =>
            {
                w.Write(m.TransferId); w.Write(m.Version); w.Write(m.ChunkBytes); w.Write(m.Count);
                w.Write(m.Layouts.Count);
                foreach (var l in m.Layouts) { w.Write(l.Name); w.WriteLongs(l.Shape); w.Write((int)l.DType); }
            },
            r =>
            {
                var (id, version, chunkBytes, count) = (r.ReadString(), r.ReadInt64(), r.ReadInt32(), r.ReadInt32());
                var layouts = new TensorLayout[r.ReadCount(9)];
                for (var i = 0; i < layouts.Length; i++) layouts[i] = new TensorLayout(r.ReadString(), r.ReadLongs(), ReadDType(r));
                return new WeightStreamStart(id, version, layouts, chunkBytes, count);
            });
        Add<WeightChunk>("wc2",
            (w, m) => { w.Write(m.TransferId); w.Write(m.Index); w.Write(m.Tensor); w.Write(m.Offset); w.WriteBytes(m.Data); },
            r => new WeightChunk(r.ReadString(), r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadBytes()));
        Add<WeightChunkAck>("wca1", (w, m) => { w.Write(m.TransferId); w.Write(m.Index); }, r => new WeightChunkAck(r.ReadString(), r.ReadInt32()));
        Add<WeightStreamEnd>("wse1", (w, m) => { w.Write(m.TransferId); w.Write(m.Count); w.Write(m.Checksum); },
            r => new WeightStreamEnd(r.ReadString(), r.ReadInt32(), r.ReadString()));
        Add<WeightStreamAbort>("wsa1", (w, m) => { w.Write(m.TransferId); w.Write(m.Reason); }, r => new WeightStreamAbort(r.ReadString(), r.ReadString()));

        // ---- evaluation ----
        Add<EvaluatePolicy>("ep1",
            (w, m) => { w.Write(m.Label); w.Write(m.Step); WriteSnapshot(w, m.Snapshot); },
            r => new EvaluatePolicy(r.ReadString(), r.ReadInt64(), ReadSnapshot(r)));
        Add<EvaluationCompleted>("ec1",
            (w, m) => { w.Write(m.Label); w.Write(m.Step); w.Write(m.PolicyVersion); WriteEvalReport(w, m.Report); w.WriteTimeSpan(m.Elapsed); },
            r => new EvaluationCompleted(r.ReadString(), r.ReadInt64(), r.ReadInt64(), ReadEvalReport(r), r.ReadTimeSpan()));

        // ---- run control ----
        Add<StartRun>("sr1", static (_, _) => { }, static _ => StartRun.Instance);
        Add<WarmStartCompleted>("wsc1",
            (w, m) => { WriteSnapshot(w, m.Snapshot); w.Write(m.Epochs); w.Write(m.ValidationLoss); },
            r => new WarmStartCompleted(ReadSnapshot(r), r.ReadInt32(), r.ReadDouble()));
        Add<GrpoCompleted>("gc1",
            (w, m) =>
            {
                w.Write(m.Step);
                w.Write(m.PolicyVersion);
                w.Write(m.Final is not null);
                if (m.Final is not null) WriteSnapshot(w, m.Final);
                w.Write(m.Interrupted);
            },
            r => new GrpoCompleted(r.ReadInt64(), r.ReadInt64(), r.ReadBoolean() ? ReadSnapshot(r) : null, r.ReadBoolean()));
        Add<RequestLatestWeights>("rlw1", static (_, _) => { }, static _ => RequestLatestWeights.Instance);
        Add<Interrupt>("int1", static (_, _) => { }, static _ => Interrupt.Instance);
        Add<CheckpointWritten>("cw1",
            (w, m) => { w.Write(m.Path); w.Write(m.Step); w.Write(m.PolicyVersion); },
            r => new CheckpointWritten(r.ReadString(), r.ReadInt64(), r.ReadInt64()));
        Add<RunFailed>("rf1", (w, m) => w.Write(m.Reason), r => new RunFailed(r.ReadString()));

        // ---- slow reward sources (SlowSourcePool) ----
        Add<ScoreRequest>("ssq1",
            (w, m) => { w.Write(m.RequestId); w.Write(m.Source); WriteGroup(w, m.Group); w.WriteTimeSpan(m.Deadline); w.Write(m.Optional); },
            r => new ScoreRequest(r.ReadInt64(), r.ReadString(), ReadGroup(r), r.ReadTimeSpan(), r.ReadBoolean()));
        Add<SlowSourceScored>("ssd1",
            (w, m) => { w.Write(m.Source); WriteGroup(w, m.Group); w.WriteList(m.Signals, WriteSignal); },
            r => new SlowSourceScored(r.ReadString(), ReadGroup(r), r.ReadArray(ReadSignal, minBytesPerElement: 19)!));
        Add<ScoreReply>("ssr1",
            (w, m) => { w.Write(m.RequestId); w.WriteList(m.Signals, WriteSignal); },
            r => new ScoreReply(r.ReadInt64(), r.ReadArray(ReadSignal, minBytesPerElement: 19)!));
        Add<CancelScore>("ssc1", (w, m) => w.Write(m.RequestId), r => new CancelScore(r.ReadInt64()));
        Add<GetStats>("ssg1", static (_, _) => { }, static _ => GetStats.Instance);
        Add<Stats>("sss1",
            (w, m) =>
            {
                w.Write(m.Running); w.Write(m.Queued); w.Write(m.Completed); w.Write(m.RejectedFull);
                w.Write(m.ExpiredInQueue); w.Write(m.Cancelled); w.Write(m.RejectedBusy);
            },
            r => new Stats(r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64()));

        // ---- ONI: critic labels for the reward model (CriticLabeller) ----
        Add("clb1", WriteLabel, ReadLabel);
        Add<Labeller.CriticLabels>("cls1", (w, m) => w.WriteImmutable(m.Labels, WriteLabel), r => new Labeller.CriticLabels(r.ReadImmutable(ReadLabel, minBytesPerElement: 11)));
        Add<Labeller.GetStats>("clg1", static (_, _) => { }, static _ => Labeller.GetStats.Instance);
        Add<Labeller.Stats>("clt1",
            (w, m) =>
            {
                w.Write(m.Offered); w.Write(m.Sampled); w.Write(m.Duplicates); w.Write(m.Dropped);
                w.Write(m.Labelled); w.Write(m.Failed); w.Write(m.Backlog); w.Write(m.InFlight);
            },
            r => new Labeller.Stats(r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt32(), r.ReadInt32()));

        // ---- ONI: reward-model trainer ----
        Add<RmTrainer.RewardModelPublished>("rmp1", (w, m) => { w.Write(m.Version); w.Write(m.Dir); }, r => new RmTrainer.RewardModelPublished(r.ReadInt64(), r.ReadString()));
        Add<RmTrainer.SaveTo>("rms1", (w, m) => w.Write(m.Dir), r => new RmTrainer.SaveTo(r.ReadString()));
        Add<RmTrainer.Saved>("rmd1", (w, m) => w.Write(m.Dir), r => new RmTrainer.Saved(r.ReadString()));

        ByType = Registered.ToFrozenDictionary(c => c.Type);
        ByManifest = Registered.ToFrozenDictionary(c => c.Manifest, StringComparer.Ordinal);
    }

    private static void Add<T>(string manifest, Action<BinaryWriter, T> write, Func<BinaryReader, T> read) where T : class, IPipelineMessage
    {
        if (Registered.Any(c => c.Manifest == manifest || c.Type == typeof(T)))
            throw new InvalidOperationException($"pipeline wire: manifest '{manifest}' or type {typeof(T).Name} registered twice");
        Registered.Add(new Codec(typeof(T), manifest, (w, o) => write(w, (T)o), read));  // Func<,T> is covariant: no wrapper on the read path
    }

    // ---- shared layouts (messages nest these) ----

    private static void WritePrompt(BinaryWriter w, Prompt p)
    {
        w.Write(p.Id);
        w.Write(p.Text);
        w.WriteNullable(p.Reference);
        w.WriteMap(p.Tags, p.Tags.Count, static (w, v) => w.Write(v));
    }

    private static Prompt ReadPrompt(BinaryReader r)
    {
        var id = r.ReadString();
        var text = r.ReadString();
        var reference = r.ReadNullableString();
        var n = r.ReadCount(2);
        var tags = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++) tags[r.ReadString()] = r.ReadString();
        return new Prompt(id, text, reference, tags.ToImmutable());
    }

    private static void WriteRollout(BinaryWriter w, Rollout x)
    {
        w.Write(x.RolloutId);
        w.Write(x.GroupId);
        w.Write(x.PromptId);
        w.Write(x.PolicyVersion);
        w.WriteInts(x.PromptTokens);
        w.WriteInts(x.CompletionTokens);
        w.WriteFloats(x.BehaviourLogProbs);
        w.Write(x.CompletionText);
        w.Write(x.Truncated);
    }

    private static Rollout ReadRollout(BinaryReader r) => new(
        r.ReadString(), r.ReadString(), r.ReadString(), r.ReadInt64(),
        r.ReadInts(), r.ReadInts(), r.ReadFloats(), r.ReadString(), r.ReadBoolean());

    private static void WriteGroup(BinaryWriter w, RolloutGroup g)
    {
        w.Write(g.GroupId);
        WritePrompt(w, g.Prompt);
        w.Write(g.PolicyVersion);
        w.WriteImmutable(g.Rollouts, WriteRollout);
        w.WriteTimeSpan(g.GenerationTime);
    }

    private static RolloutGroup ReadGroup(BinaryReader r) => new(
        r.ReadString(), ReadPrompt(r), r.ReadInt64(), r.ReadImmutable(ReadRollout, minBytesPerElement: 20), r.ReadTimeSpan());

    private static void WriteLabel(BinaryWriter w, Labeller.CriticLabel l)
    {
        w.Write(l.Text);
        w.Write(l.Score);
        w.Write(l.PromptId);
        w.Write(l.RolloutId);
    }

    private static Labeller.CriticLabel ReadLabel(BinaryReader r) => new(r.ReadString(), r.ReadDouble(), r.ReadString(), r.ReadString());

    private static void WriteSpan(BinaryWriter w, SpanReward s)
    {
        w.Write(s.Start);
        w.Write(s.Length);
        w.Write(s.Value);
        w.WriteNullable(s.Note);
    }

    private static SpanReward ReadSpan(BinaryReader r) => new(r.ReadInt32(), r.ReadInt32(), r.ReadDouble(), r.ReadNullableString());

    private static void WriteSignal(BinaryWriter w, RewardSignal s)
    {
        w.Write(s.Source);
        w.Write(s.Value);
        w.Write(s.Valid);
        w.WriteTimeSpan(s.Latency);
        w.WriteNullable(s.Details);
        w.WriteList(s.Spans, WriteSpan);
    }

    private static RewardSignal ReadSignal(BinaryReader r)
    {
        var signal = new RewardSignal(r.ReadString(), r.ReadDouble(), r.ReadBoolean(), r.ReadTimeSpan(), r.ReadNullableString());
        var spans = r.ReadArray(ReadSpan, minBytesPerElement: 17, allowNull: true);
        return spans is null ? signal : signal with { Spans = spans };
    }

    private static void WriteRolloutRewards(BinaryWriter w, RolloutRewards x)
    {
        w.WriteImmutable(x.Signals, WriteSignal);
        w.Write(x.Reward);
        w.Write(x.Valid);
        w.WriteNullable(x.InvalidReason);
    }

    private static RolloutRewards ReadRolloutRewards(BinaryReader r) => new(
        r.ReadImmutable(ReadSignal, minBytesPerElement: 19), r.ReadDouble(), r.ReadBoolean(), r.ReadNullableString());

    private static void WriteAnnotated(BinaryWriter w, AnnotatedGroup a)
    {
        w.Write(a.CreditId);
        WriteGroup(w, a.Group);
        w.WriteImmutable(a.Rewards, WriteRolloutRewards);
        w.WriteTimeSpan(a.AnnotationTime);
        w.Write(a.PromptCursor);
    }

    private static AnnotatedGroup ReadAnnotated(BinaryReader r) => new(
        r.ReadInt64(), ReadGroup(r), r.ReadImmutable(ReadRolloutRewards, minBytesPerElement: 14), r.ReadTimeSpan(), r.ReadInt64());

    private static void WriteBufferStats(BinaryWriter w, BufferStats s)
    {
        w.Write(s.Depth);
        w.Write(s.Accepted);
        w.Write(s.DroppedStale);
        w.Write(s.DroppedLate);
        w.Write(s.CreditsExpired);
        w.Write(s.CreditsReleased);
        w.Write(s.Capacity);
        w.Write(s.Running);
        w.Write(s.DroppedUninformative);
    }

    private static BufferStats ReadBufferStats(BinaryReader r) => new(
        r.ReadInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadInt32())
    { DroppedUninformative = r.ReadInt64() };

    private static void WriteScore(BinaryWriter w, EvalScore s)
    {
        w.Write(s.Count);
        w.Write(s.Accuracy);
        w.Write(s.ExactMatch);
    }

    private static EvalScore ReadScore(BinaryReader r) => new(r.ReadInt32(), r.ReadDouble(), r.ReadDouble());

    private static void WriteEvalReport(BinaryWriter w, EvalReport e)
    {
        w.WriteMap(e.Slices, e.Slices.Count, WriteScore);
        WriteScore(w, e.Overall);
    }

    private static EvalReport ReadEvalReport(BinaryReader r) => new(r.ReadMap(ReadScore, minBytesPerEntry: 21), ReadScore(r));

    /// <summary>Version, then per tensor: name, shape, float32 data (evaluation and run-control messages).</summary>
    internal static void WriteSnapshot(BinaryWriter w, WeightSnapshot s)
    {
        w.Write(s.Version);
        w.Write(s.Tensors.Count);
        foreach (var t in s.Tensors)
        {
            w.Write(t.Name);
            w.WriteLongs(t.Shape);
            w.WriteFloats(t.Data);
        }
    }

    private static TorchSharp.torch.ScalarType ReadDType(BinaryReader r)
    {
        var code = r.ReadInt32();
        var dtype = (TorchSharp.torch.ScalarType)code;
        if (!Enum.IsDefined(dtype)) throw new System.Runtime.Serialization.SerializationException($"weight stream: unknown dtype code {code}");
        return dtype;
    }

    internal static WeightSnapshot ReadSnapshot(BinaryReader r)
    {
        var version = r.ReadInt64();
        var n = r.ReadCount(9);
        var tensors = new NamedTensor[n];
        for (var i = 0; i < n; i++) tensors[i] = new NamedTensor(r.ReadString(), r.ReadLongs(), r.ReadFloats());
        return new WeightSnapshot(version, tensors);
    }
}
