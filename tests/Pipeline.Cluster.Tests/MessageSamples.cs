using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;
using static Pipeline.Runtime.Actors.SlowSourcePool;
using Labeller = Pipeline.Runtime.Actors.Oni.CriticLabeller;
using RmTrainer = Pipeline.Runtime.Actors.Oni.RewardModelTrainer;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Sample instances of every <see cref="IPipelineMessage"/>, with every field set to something other than its default in at
/// least one sample (and the nullable ones null in another). A new message type needs an entry here; the wire spec says so.
/// </summary>
internal static class MessageSamples
{
    public static Prompt Prompt(string id = "sql-de-0007", string? reference = "SELECT count(*) FROM singer") => new(
        id, "Wie viele Sänger gibt es? 歌手は何人 🎤", reference,
        ImmutableDictionary<string, string>.Empty.Add("db", "concert_singer").Add("lang", "de"));

    public static Rollout Rollout(string groupId, int i, bool truncated = false) => new(
        $"{groupId}-r{i}", groupId, "sql-de-0007", PolicyVersion: 12,
        PromptTokens: [5, 17, 1999, 0, -1],
        CompletionTokens: Enumerable.Range(100 + i, 7 + i).ToArray(),
        BehaviourLogProbs: [-0.25f, -1.5f, float.NegativeInfinity, -0f, 1e-30f, -3.75f, -0.001f, .. Enumerable.Repeat(-0.5f, i)],
        CompletionText: $"SELECT count(*) FROM singer -- {i} ✓",
        Truncated: truncated);

    public static RolloutGroup Group(string id = "g00042", int rollouts = 3) => new(
        id, Prompt(), PolicyVersion: 12,
        Enumerable.Range(0, rollouts).Select(i => Rollout(id, i, truncated: i == rollouts - 1)).ToImmutableArray(),
        TimeSpan.FromMilliseconds(1234.5678));

    public static RewardSignal DenseSignal() => RewardSignal.Ok("critic", 0.75, TimeSpan.FromMilliseconds(812), "good join") with
    {
        Spans = [new SpanReward(0, 6, 0.5, "keyword"), new SpanReward(7, 8, -0.25)],
    };

    public static RewardSignal InvalidSignal() => RewardSignal.Invalid("exec", "timeout after 2 s", TimeSpan.FromSeconds(2));

    public static RewardSignal PlainSignal() => new("rubric", 1.0, true, TimeSpan.Zero, null);

    public static RolloutRewards Rewards(int i) => new([DenseSignal(), InvalidSignal(), PlainSignal()], 0.25 * i, true, null);

    public static AnnotatedGroup Annotated(long creditId) => new(
        creditId, Group($"g{creditId}"), [Rewards(0), Rewards(1), new RolloutRewards([InvalidSignal()], double.NaN, false, "all sources invalid")],
        TimeSpan.FromMilliseconds(77), PromptCursor: 4242);

    public static BufferStats Stats() => new(Depth: 7, Accepted: 1001, DroppedStale: 3, DroppedLate: 2, CreditsExpired: 5, CreditsReleased: 11, Capacity: 64, Running: 9)
    { DroppedUninformative = 13 };

    public static WeightSnapshot Snapshot(long version = 9, int scale = 1) => new(version,
    [
        new NamedTensor("embed.weight", [4L * scale, 3], Enumerable.Range(0, 12 * scale).Select(i => i * 0.5f - 2).ToArray()),
        new NamedTensor("ln.bias", [3], [0.1f, float.NaN, -0f]),
        new NamedTensor("scalar", [], [42f]),
    ]);

    public static Labeller.CriticLabel Label(int i) => new($"SELECT name FROM singer WHERE age > {i}", 0.25 * i, "sql-en-0003", $"g7-r{i}");

    public static EvalReport Report() => new(
        new Dictionary<string, EvalScore> { ["en"] = new(50, 0.62, 0.4), ["de"] = new(48, 0.5, 0.31) },
        new EvalScore(98, 0.5612, 0.3571));

    /// <summary>Samples for every message type; a type without an entry fails the wire spec.</summary>
    public static readonly IReadOnlyDictionary<Type, Func<object[]>> ByType = new Dictionary<Type, Func<object[]>>
    {
        // Pipeline.Core.Protocol
        [typeof(Prompt)] = () => [Prompt(), Prompt("p-empty", reference: null) with { Tags = ImmutableDictionary<string, string>.Empty, Text = "" }],
        [typeof(Rollout)] = () => [Rollout("g1", 2, truncated: true), new Rollout("r", "g", "p", 0, [], [], [], "", false)],
        [typeof(RolloutGroup)] = () => [Group(), Group("g-empty", rollouts: 0)],
        [typeof(MetricsReport)] = () => [new MetricsReport(12, new Dictionary<string, double> { ["reward/mean"] = 0.5, ["timing_s/gen"] = 1.25, ["nan"] = double.NaN })],

        // Pipeline.Runtime.Protocol
        [typeof(RequestCredit)] = () => [new RequestCredit("generator-2")],
        [typeof(Credit)] = () => [new Credit(77, 3, 2), new Credit(long.MaxValue, long.MinValue, long.MaxValue)],
        [typeof(CreditReleased)] = () => [new CreditReleased(77, "generation failed: CUDA OOM")],
        [typeof(RequestPrompt)] = () => [new RequestPrompt("generator-1", 12)],
        [typeof(PromptSettled)] = () => [new PromptSettled(12, true), new PromptSettled(13, false)],
        [typeof(PromptAssigned)] = () => [new PromptAssigned(Prompt(), 99, 12)],
        [typeof(GeneratedGroup)] = () => [new GeneratedGroup(5, Group(), 41)],
        [typeof(RolloutRewards)] = () => [Rewards(1), new RolloutRewards(default, double.NaN, false, "no sources")],
        [typeof(AnnotatedGroup)] = () => [Annotated(8)],
        [typeof(RequestBatch)] = () => [new RequestBatch(3, 16, 12)],
        [typeof(TrainingBatch)] = () => [new TrainingBatch(3, [Annotated(1), Annotated(2)], Stats()), new TrainingBatch(4, [], Stats())],
        [typeof(BufferStats)] = () => [Stats()],
        [typeof(PolicyVersionAdvanced)] = () => [new PolicyVersionAdvanced(13)],
        [typeof(EvaluatePolicy)] = () => [new EvaluatePolicy("held-out", 200, Snapshot(4))],
        [typeof(EvaluationCompleted)] = () => [new EvaluationCompleted("held-out", 200, 14, Report(), TimeSpan.FromSeconds(3.5))],
        [typeof(StartRun)] = () => [StartRun.Instance],
        [typeof(WarmStartCompleted)] = () => [new WarmStartCompleted(Snapshot(0, 2), 3, 0.8125)],
        [typeof(GrpoCompleted)] = () => [new GrpoCompleted(300, 300, Snapshot(300), true), new GrpoCompleted(10, 10, null, false)],
        [typeof(RequestLatestWeights)] = () => [RequestLatestWeights.Instance],
        [typeof(Interrupt)] = () => [Interrupt.Instance],
        [typeof(CheckpointWritten)] = () => [new CheckpointWritten("runs/sql__grpo__17/checkpoints/step-000300", 300, 300)],
        [typeof(RunFailed)] = () => [new RunFailed("learner crashed: Ünïcödé")],

        // Pipeline.Runtime.Actors.SlowSourcePool
        [typeof(ScoreRequest)] = () => [new ScoreRequest(9, "critic", Group(), TimeSpan.FromSeconds(8), Optional: true), new ScoreRequest(10, "exec", Group(), TimeSpan.Zero)],
        [typeof(SlowSourceScored)] = () => [new SlowSourceScored("critic", Group(), [DenseSignal(), InvalidSignal()])],
        [typeof(ScoreReply)] = () => [new ScoreReply(9, [DenseSignal(), InvalidSignal(), PlainSignal()]), new ScoreReply(10, [])],
        [typeof(CancelScore)] = () => [new CancelScore(9)],
        [typeof(GetStats)] = () => [GetStats.Instance],
        [typeof(Stats)] = () => [new Stats(2, 5, 100, 3, 4, 6, RejectedBusy: 7)],

        // Pipeline.Runtime.Actors.Oni.CriticLabeller
        [typeof(Labeller.CriticLabel)] = () => [Label(1)],
        [typeof(Labeller.CriticLabels)] = () => [new Labeller.CriticLabels([Label(1), Label(2)]), new Labeller.CriticLabels([])],
        [typeof(Labeller.GetStats)] = () => [Labeller.GetStats.Instance],
        [typeof(Labeller.Stats)] = () => [new Labeller.Stats(Offered: 100, Sampled: 40, Duplicates: 3, Dropped: 2, Labelled: 30, Failed: 5, Backlog: 4, InFlight: 6)],

        // Pipeline.Runtime.Actors.Oni.RewardModelTrainer
        [typeof(RmTrainer.RewardModelPublished)] = () => [new RmTrainer.RewardModelPublished(4, "runs/x/reward-model/v4")],
        [typeof(RmTrainer.SaveTo)] = () => [new RmTrainer.SaveTo("runs/x/reward-model/final")],
        [typeof(RmTrainer.Saved)] = () => [new RmTrainer.Saved("runs/x/reward-model/final")],

        // Pipeline.Cluster
        [typeof(WeightsAvailable)] = () => [new WeightsAvailable(41)],
        [typeof(WeightsVersionQuery)] = () => [WeightsVersionQuery.Instance],
        [typeof(WeightStreamStart)] = () =>
        [
            new WeightStreamStart("w9-abc", 9, [new TensorLayout("embed.weight", [4, 3], TorchSharp.torch.ScalarType.BFloat16),
                new TensorLayout("scalar", [], TorchSharp.torch.ScalarType.Float32)], 1024, 2),
            new WeightStreamStart("w0", 0, [], 16, 0),
        ],
        [typeof(WeightChunk)] = () => [new WeightChunk("w9-abc", 5, 2, 4096, [0, 1, 2, 254, 255]), new WeightChunk("w0", 0, 0, 0, [])],
        [typeof(WeightChunkAck)] = () => [new WeightChunkAck("w9-abc", 7)],
        [typeof(WeightStreamEnd)] = () => [new WeightStreamEnd("w9-abc", 12, "ab12cd")],
        [typeof(WeightStreamAbort)] = () => [new WeightStreamAbort("w9-abc", "v9 superseded after 3 of 12 chunks")],
    };
}
