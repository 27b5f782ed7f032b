using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Learning.Weights;

namespace Pipeline.Runtime.Protocol;

// ---- admission (generator <-> replay buffer) ----
/// <summary>A generator asks for permission to start one group.</summary>
public sealed record RequestCredit(string GeneratorId) : IPipelineMessage;
/// <summary>
/// Permission to start exactly one group; the id travels with the group so the buffer can match it.
/// <paramref name="MinPolicyVersion"/>: the oldest policy version the group can be sampled with and still be fresh enough
/// to train when its batch is asked for (see <c>AdmissionController.TryGrant</c>). A generator whose weights are older
/// waits a while for newer ones instead of sampling a group the buffer would drop as stale.
/// </summary>
public sealed record Credit(long CreditId, long LearnerVersion, long MinPolicyVersion = 0) : IPipelineMessage;
/// <summary>A granted group will not arrive (generation failed, annotation overloaded); its slot reopens.</summary>
public sealed record CreditReleased(long CreditId, string Reason) : IPipelineMessage;

/// <summary>
/// Published on a node's local EventStream (never sent between nodes) when the buffer/prompt/learner actors a node talks to
/// were replaced (cluster mode: the run singleton moved). Generators drop any credit of the old buffer and ask again.
/// </summary>
public sealed record UpstreamChanged(string Name);

// ---- prompts ----
/// <summary>The prompt for credit <paramref name="CreditId"/> (0: no credit, e.g. a test probe), asked by the buffer when it grants the credit, on behalf of (as sender) the generator.</summary>
public sealed record RequestPrompt(string RequesterId, long CreditId = 0) : IPipelineMessage;
/// <summary>
/// The buffer tells the prompt source how a credit ended: with an accepted group, or <paramref name="Lost"/> (released,
/// expired, its generator died). A lost credit's prompt is re-issued once to the next generator that asks.
/// </summary>
public sealed record PromptSettled(long CreditId, bool Lost) : IPipelineMessage;
/// <summary>The prompt for credit <paramref name="CreditId"/>, sent to the generator holding it (0: not tied to a credit).</summary>
public sealed record PromptAssigned(Prompt Prompt, long Cursor, long CreditId = 0) : IPipelineMessage;

// ---- rollouts and rewards ----
/// <summary>A freshly sampled group on its way to the annotation stage.</summary>
public sealed record GeneratedGroup(long CreditId, RolloutGroup Group, long PromptCursor) : IPipelineMessage;

/// <summary>Every source's signal for one rollout and the composed scalar (NaN and Valid=false when masked).</summary>
public sealed record RolloutRewards(ImmutableArray<RewardSignal> Signals, double Reward, bool Valid, string? InvalidReason) : IPipelineMessage;

/// <summary>A group with its rewards, ready for the replay buffer.</summary>
public sealed record AnnotatedGroup(long CreditId, RolloutGroup Group, ImmutableArray<RolloutRewards> Rewards, TimeSpan AnnotationTime, long PromptCursor) : IPipelineMessage
{
    /// <summary>Whether GRPO can learn from the group: at least two valid rewards that differ (see <see cref="Core.Grpo.GroupAdvantages.HasSignal"/>).</summary>
    public bool HasSignal() => Core.Grpo.GroupAdvantages.HasSignal(Rewards.Select(r => r.Reward).ToArray(), Rewards.Select(r => r.Valid).ToArray());
}

// ---- learner <-> buffer ----
/// <summary>The learner, at <paramref name="LearnerVersion"/>, asks for <paramref name="Groups"/> groups; answered once they exist.</summary>
public sealed record RequestBatch(long RequestId, int Groups, long LearnerVersion) : IPipelineMessage;
public sealed record TrainingBatch(long RequestId, ImmutableArray<AnnotatedGroup> Groups, BufferStats Stats) : IPipelineMessage;
public sealed record BufferStats(int Depth, long Accepted, long DroppedStale, long DroppedLate, long CreditsExpired, long CreditsReleased, long Capacity, int Running) : IPipelineMessage
{
    /// <summary>Groups dropped by dynamic sampling (all rewards equal) since the buffer started.</summary>
    public long DroppedUninformative { get; init; }
}
public sealed record PolicyVersionAdvanced(long Version) : IPipelineMessage;

// ---- weights ----
/// <summary>
/// New policy weights by version; generators take the newest and ignore older ones. In-process only: the source is
/// the learner's own tensors (<see cref="LiveWeights"/>) or a version a node received and staged; between nodes a
/// version travels as a chunk stream. A <see cref="WeightSnapshot"/> is a source too (tests, evaluation).
/// </summary>
public sealed record PolicyWeights(IWeightSource Weights)
{
    public long Version => Weights.Version;
}

// ---- evaluation ----
public sealed record EvaluatePolicy(string Label, long Step, WeightSnapshot Snapshot) : IPipelineMessage;
public sealed record EvaluationCompleted(string Label, long Step, long PolicyVersion, Core.Tasks.EvalReport Report, TimeSpan Elapsed) : IPipelineMessage;

// ---- run control ----
public sealed record StartRun : IPipelineMessage { public static readonly StartRun Instance = new(); }
public sealed record WarmStartCompleted(WeightSnapshot Snapshot, int Epochs, double ValidationLoss) : IPipelineMessage;
public sealed record GrpoCompleted(long Step, long PolicyVersion, WeightSnapshot? Final, bool Interrupted) : IPipelineMessage;
/// <summary>A generator that started late or missed versions asks for the newest weights.</summary>
public sealed record RequestLatestWeights : IPipelineMessage { public static readonly RequestLatestWeights Instance = new(); }
/// <summary>
/// A generator holds a credit that needs weights of at least <paramref name="Version"/> and has older ones. In-process
/// only, to the generator's source of weights: the learner (local mode) publishes every version anyway and ignores it;
/// a cluster node's weights bridge asks the learner node at once which version it holds, instead of waiting for an
/// announcement or its periodic check.
/// </summary>
public sealed record NewerWeightsWanted(long Version);
/// <summary>Ctrl-C: checkpoint after the current step, then stop.</summary>
public sealed record Interrupt : IPipelineMessage { public static readonly Interrupt Instance = new(); }
public sealed record CheckpointWritten(string Path, long Step, long PolicyVersion) : IPipelineMessage;
public sealed record RunFailed(string Reason) : IPipelineMessage;
