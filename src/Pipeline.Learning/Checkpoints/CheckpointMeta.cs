using System.Text.Json.Serialization;

namespace Pipeline.Learning.Checkpoints;

/// <summary>
/// Everything besides tensors that the learner needs to resume exactly where it stopped.
/// </summary>
/// <param name="Step">Optimizer steps completed (the checkpoint directory is named after it).</param>
/// <param name="PolicyVersion">Version of the policy weights in this checkpoint (what rollout workers see).</param>
/// <param name="Stage">Training stage, e.g. "sft" or "grpo".</param>
/// <param name="DataCursor">Position of the prompt/data sampler: the next item to draw (e.g. prompts consumed).</param>
/// <param name="Seed">Seed the run started with.</param>
/// <param name="RngState">State words of the learner's own (managed) RNG, e.g. a xoshiro state or a [counter];
/// restore the generator from these so the next draws match an uninterrupted run. The torch CPU generator state is
/// stored by <see cref="CheckpointStore"/> separately (rng.safetensors) and restored by Load.</param>
/// <param name="CreatedAt">Wall-clock time of the save (informational only).</param>
/// <param name="Extra">Free-form non-secret key/values (config hash, git sha, metrics). Keys that look like
/// secrets (password, api key, access token, ...) are dropped on save.</param>
public sealed record CheckpointMeta(
    long Step,
    long PolicyVersion,
    string Stage,
    long DataCursor,
    long Seed,
    ulong[] RngState,
    DateTimeOffset CreatedAt,
    Dictionary<string, string> Extra)
{
    /// <summary>On-disk format version of the checkpoint directory.</summary>
    public int Format { get; init; } = CheckpointStore.FormatVersion;

    /// <summary>Set on an adapter-only checkpoint (LoRA): the frozen base it was trained over; null when the checkpoint holds full weights.</summary>
    public BaseModelFingerprint? BaseModel { get; init; }

    public static CheckpointMeta Create(long step, long policyVersion, string stage, long dataCursor = 0,
        long seed = 0, ulong[]? rngState = null, Dictionary<string, string>? extra = null) =>
        new(step, policyVersion, stage, dataCursor, seed, rngState ?? [], DateTimeOffset.UtcNow,
            extra ?? new Dictionary<string, string>());
}

/// <summary>
/// manifest.json of a checkpoint: every other file's size and SHA-256, written last, so a checkpoint is intact exactly
/// when each listed file still has its recorded size and hash.
/// </summary>
public sealed record CheckpointManifest(int Format, Dictionary<string, ManifestEntry> Files);

/// <summary>One file of a <see cref="CheckpointManifest"/>.</summary>
public sealed record ManifestEntry(long Size, string Sha256);

/// <summary>
/// What <see cref="CheckpointStore.Check"/> found in a checkpoint folder: intact (Problem null), or broken and why.
/// <paramref name="Verified"/> is false for an intact checkpoint written before checkpoints carried a manifest.
/// </summary>
public sealed record CheckpointCheck(string Dir, CheckpointMeta? Meta, string? Problem, bool Verified)
{
    public bool Intact => Problem is null;
}

[JsonSerializable(typeof(CheckpointMeta))]
[JsonSerializable(typeof(CheckpointManifest))]
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class CheckpointJsonContext : JsonSerializerContext;
