using Akka.Configuration;
using Pipeline.Core.Rewards;

namespace Pipeline.Core.Configuration;

/// <param name="MaxResultBytes">Memory one query's result may hold when the reward or evaluator runs it (pipeline.task.sql.max-result-bytes).</param>
/// <param name="MaxRows">Rows one result may have before it is cut, an invalid verdict (pipeline.task.sql.max-rows).</param>
/// <param name="RelativeTolerance">0: numbers compare exactly in the execution match; above: relative tolerance (pipeline.task.sql.relative-tolerance).</param>
/// <param name="Instances">Database instances per db id; a prediction must match on all (pipeline.task.sql.instances).</param>
/// <param name="RlValues">narrow | wide: the entity values RL prompts draw from (pipeline.task.sql.rl-values).</param>
/// <param name="RlTemplates">all | rl-only: the paraphrase templates RL prompts use (pipeline.task.sql.rl-templates).</param>
public sealed record SqlTaskSettings(int SftExamples, int RlExamples, int HeldOutExamples, TimeSpan QueryTimeout, long MaxResultBytes,
    int MaxRows = 1_000_000, double RelativeTolerance = 0, int Instances = 1, string RlValues = "narrow", string RlTemplates = "all");
public sealed record TaskSettings(string Name, SqlTaskSettings Sql)
{
    /// <summary>The task's own block, pipeline.task.&lt;name&gt; (empty when it has none), for its factory in the task registry.</summary>
    public Config Block { get; init; } = Config.Empty;

    // Akka's Config compares by reference: the block compares by its rendering, so a resumed run's settings equal the run's.
    public bool Equals(TaskSettings? other) =>
        other is not null && Name == other.Name && Sql == other.Sql && Block.ToString() == other.Block.ToString();

    public override int GetHashCode() => HashCode.Combine(Name, Sql);
}
/// <param name="Context">Longest sequence (prompt plus completion) the policy is run on.</param>
public sealed record PolicySettings(int VocabSize, int DModel, int Layers, int Heads, int Context)
{
    /// <summary>builtin: the embedded from-scratch model; hf: the Hugging Face model folder at <see cref="Path"/>.</summary>
    public string Source { get; init; } = "builtin";

    /// <summary>The model folder when <see cref="Source"/> is hf ("" otherwise).</summary>
    public string Path { get; init; } = "";

    /// <summary>hf prompts: auto (the folder's chat template when it has one), none (plain text), or a template file.</summary>
    public string ChatTemplate { get; init; } = "auto";

    /// <summary>Built-in policy positions: learned (an embedding per position) or rotary (RoPE, for long contexts).</summary>
    public string Positions { get; init; } = "learned";

    /// <summary>LoRA adapters on the hf policy (pipeline.policy.lora); off by default, i.e. full fine-tuning.</summary>
    public LoraSettings Lora { get; init; } = LoraSettings.Off;

    /// <summary>The weights' dtype: auto (bfloat16 for an hf policy on CUDA, else float32), float32 or bfloat16 (hf only).</summary>
    public string Dtype { get; init; } = "auto";
}
/// <summary>
/// LoRA: low-rank adapters on the named linear modules; only they train, the base stays frozen.
/// <paramref name="TargetModules"/> are module names (a module whose path ends in ".name"), or the single entry all-linear.
/// </summary>
public sealed record LoraSettings(bool Enabled, int Rank, double Alpha, double Dropout, IReadOnlyList<string> TargetModules)
{
    public static readonly LoraSettings Off = new(false, 8, 16, 0, ["q_proj", "v_proj"]);

    // Value equality over the module list too, so settings read twice from the same configuration compare equal.
    public bool Equals(LoraSettings? other) =>
        other is not null && Enabled == other.Enabled && Rank == other.Rank && Alpha.Equals(other.Alpha)
        && Dropout.Equals(other.Dropout) && TargetModules.SequenceEqual(other.TargetModules, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Enabled, Rank, Alpha, Dropout, TargetModules.Count);
}
public sealed record WarmStartSettings(bool Enabled, int MaxEpochs, int BatchSize, double LearningRate, double WeightDecay, int Patience, double ValidationFraction);
/// <param name="WeightsWait">How long a generator holds a credit whose group needs newer weights than it has (cluster mode: weights still on their way) before it samples anyway.</param>
public sealed record GenerationSettings(int Generators, int GroupSize, double Temperature, double TopP, int MaxTokens, TimeSpan WeightsWait)
{
    /// <summary>Where generators hold their policy copy ("" = pipeline.device, the learner's).</summary>
    public string Device { get; init; } = "";

    /// <summary>The generators' weights dtype ("" = pipeline.policy.dtype, the learner's).</summary>
    public string Dtype { get; init; } = "";
}
public sealed record BufferSettings(int Capacity);
public sealed record GrpoRunSettings(int Steps, int BatchGroups, int MaxStaleness, double LearningRate, double WeightDecay, double MaxGradNorm,
    double ClipLow, double ClipHigh, double KlCoef, double IsCap, int Epochs, int MiniBatches)
{
    /// <summary>DAPO dynamic sampling: the buffer drops groups whose rewards are all equal and grants a replacement credit.</summary>
    public bool DynamicSampling { get; init; }

    /// <summary>Dropped groups per served batch before the buffer takes uninformative groups anyway (a bound on extra sampling).</summary>
    public int DynamicSamplingMaxDrops { get; init; } = 32;

    /// <summary>DAPO overlong filtering: truncated completions are left out of the loss (their group's statistics keep them).</summary>
    public bool OverlongFilter { get; init; }

    /// <summary>Linear learning-rate warm-up over this many GRPO steps (0: none).</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Entropy bonus: loss -= coef * mean token entropy (0: none).</summary>
    public double EntropyCoef { get; init; }
}
public sealed record EvalSettings(int EverySteps, int Limit);
public sealed record CheckpointSettings(int EverySteps, int Keep);
public sealed record TimeoutSettings(TimeSpan Credit, TimeSpan BatchWait, TimeSpan Shutdown);
public sealed record MetricsSettings(bool TensorBoard, bool Plots);
/// <summary>ONI: the labelling critic, the reward model's training schedule, the intrinsic reward's damping, the model's block.</summary>
public sealed record OniSettings(bool Enabled, string LabelSource, double SamplingRate, double LabelsPerSecond, int Backlog, int MaxInFlight,
    TimeSpan LabelDeadline, int StepsPerLabelBatch, int WarmupLabels, int StepsPerLearnerStep, int BatchSize, int HeldOutEvery,
    int PublishEveryVersions, double Beta, Config RewardModel)
{
    public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan PublishMinInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>How the sources in use are composed, the slow-source pool, and the whole pipeline.rewards block
/// (type-specific settings such as pipeline.rewards.similarity are read by the sources' factories).</summary>
public sealed record RewardsSettings(RewardAggregation Aggregation, RewardNormalizer TotalNormalizer, int SlowWorkers, int SlowQueue, Config Block)
{
    /// <summary>Scale of dense span feedback added to token advantages (0: off).</summary>
    public double DenseWeight { get; init; }

    /// <summary>A required source invalid in every rollout for this many consecutive steps fails the run (0: never).</summary>
    public int MaxInvalidSteps { get; init; }
}

/// <summary>Everything a run reads from configuration, validated at start-up.</summary>
public sealed record PipelineSettings(
    int Seed,
    string RunDir,
    string RunName,
    string Device,
    int TorchThreads,
    TaskSettings Task,
    PolicySettings Policy,
    WarmStartSettings WarmStart,
    GenerationSettings Generation,
    IReadOnlyList<RewardSourceSpec> RewardSources,
    RewardsSettings Rewards,
    OniSettings Oni,
    BufferSettings Buffer,
    GrpoRunSettings Grpo,
    EvalSettings Eval,
    CheckpointSettings Checkpoint,
    TimeoutSettings Timeouts,
    MetricsSettings Metrics)
{
    /// <summary>The merged HOCON (including any akka.* keys) for the ActorSystem and the run folder's snapshot.</summary>
    public Config Hocon { get; init; } = Config.Empty;

    /// <summary>The layers these settings were read from (null when built in code), for naming where a key was set.</summary>
    public ConfigLayers? Layers { get; init; }

    /// <summary>The file or --set that last set <paramref name="key"/> (a full key, e.g. pipeline.rewards.critic.timeout).</summary>
    public string OriginOf(string key) => Layers?.OriginOf(key) ?? "built-in defaults";

    public static PipelineSettings From(ConfigLayers layers)
    {
        var r = new SettingsReader(layers.Merged(), layers);
        const string p = "pipeline.";
        var aggregation = r.OneOf(p + "rewards.aggregation", "normalize_then_sum", "sum_then_normalize") == "sum_then_normalize"
            ? RewardAggregation.SumThenNormalize : RewardAggregation.NormalizeThenSum;
        var declared = r.ChildNames(p + "rewards.sources");
        var use = r.StringList(p + "rewards.use");
        if (use.Count == 0) throw new ConfigException($"pipeline.rewards.use in {layers.OriginOf(p + "rewards.use")} names no reward source");
        // Every declared source is read, in use or not, so a bad value fails at start-up rather than when it is first used.
        var specs = declared.ToDictionary(name => name, name => Source(r, layers, name), StringComparer.Ordinal);
        var sources = new List<RewardSourceSpec>();
        foreach (var name in use)
        {
            if (!declared.Contains(name))
                throw new ConfigException(
                    $"pipeline.rewards.use names '{name}' ({layers.OriginOf(p + "rewards.use")}), which pipeline.rewards.sources does not declare (declared: {string.Join(", ", declared)})");
            if (sources.Any(s => s.Name == name))
                throw new ConfigException($"pipeline.rewards.use names '{name}' twice ({layers.OriginOf(p + "rewards.use")})");
            var spec = specs[name];
            var k = $"{p}rewards.sources.{name}.";
            if (aggregation == RewardAggregation.SumThenNormalize && spec.Normalizer != RewardNormalizer.None)
                throw new ConfigException(
                    $"{k}normalizer = {r.String(k + "normalizer")} ({layers.OriginOf(k + "normalizer")}): with pipeline.rewards.aggregation = sum_then_normalize " +
                    "only the total is normalised (pipeline.rewards.normalizer); set the source's normalizer to none");
            sources.Add(spec);
        }
        var rewards = new RewardsSettings(aggregation, Normalizer(r, p + "rewards.normalizer"),
            r.Int(p + "rewards.slow-pool.workers", 1, 1024), r.Int(p + "rewards.slow-pool.queue", 0, 1_000_000),
            r.Config.GetConfig(p + "rewards"))
        {
            DenseWeight = r.Double(p + "rewards.dense-weight", 0, 100),
            MaxInvalidSteps = r.Int(p + "rewards.max-invalid-steps", 0, 1_000_000),
        };

        var settings = new PipelineSettings(
            Seed: r.Int(p + "seed"),
            RunDir: r.String(p + "run-dir"),
            RunName: r.String(p + "run-name"),
            Device: r.OneOf(p + "device", "auto", "cpu", "cuda"),
            TorchThreads: r.Int(p + "torch-threads", 1, 256),
            Task: new TaskSettings(
                TaskName(r, layers),
                new SqlTaskSettings(
                    r.Int(p + "task.sql.sft-examples", 10),
                    r.Int(p + "task.sql.rl-examples", 1),
                    r.Int(p + "task.sql.heldout-examples", 1),
                    r.Duration(p + "task.sql.query-timeout"),
                    r.Long(p + "task.sql.max-result-bytes", 65_536),
                    r.Int(p + "task.sql.max-rows", 1),
                    r.Double(p + "task.sql.relative-tolerance", 0, 0.5),
                    r.Int(p + "task.sql.instances", 1, 16),
                    r.OneOf(p + "task.sql.rl-values", "narrow", "wide"),
                    r.OneOf(p + "task.sql.rl-templates", "all", "rl-only")))
            {
                Block = TaskBlock(r.Config, r.String(p + "task.name")),
            },
            Policy: new PolicySettings(
                r.Int(p + "policy.vocab-size", 64, 200_000),
                r.Int(p + "policy.d-model", 8),
                r.Int(p + "policy.layers", 1, 64),
                r.Int(p + "policy.heads", 1, 64),
                r.Int(p + "policy.context", 16, 131_072))
            {
                Source = r.OneOf(p + "policy.source", "builtin", "hf"),
                Path = r.String(p + "policy.path"),
                ChatTemplate = r.String(p + "policy.chat-template"),
                Positions = r.OneOf(p + "policy.positions", "learned", "rotary"),
                Lora = new LoraSettings(
                    r.Bool(p + "policy.lora.enabled"),
                    r.Int(p + "policy.lora.rank", 1, 65_536),
                    r.Double(p + "policy.lora.alpha", 0),
                    r.Double(p + "policy.lora.dropout", 0, 0.999),
                    r.StringList(p + "policy.lora.target-modules")),
                Dtype = r.OneOf(p + "policy.dtype", "auto", "float32", "bfloat16"),
            },
            WarmStart: new WarmStartSettings(
                r.Bool(p + "warm-start.enabled"),
                r.Int(p + "warm-start.max-epochs", 0),
                r.Int(p + "warm-start.batch-size", 1),
                r.Double(p + "warm-start.learning-rate", 0, 1),
                r.Double(p + "warm-start.weight-decay", 0, 1),
                r.Int(p + "warm-start.patience", 1),
                r.Double(p + "warm-start.validation-fraction", 0.001, 0.5)),
            Generation: new GenerationSettings(
                r.Int(p + "generation.generators", 1, 1024),
                r.Int(p + "generation.group-size", 2, 1024),
                r.Double(p + "generation.temperature", 0, 10),
                r.Double(p + "generation.top-p", 0.0001, 1),
                r.Int(p + "generation.max-tokens", 1, 8192),
                r.Duration(p + "generation.weights-wait"))
            {
                Device = r.OneOf(p + "generation.device", "", "auto", "cpu", "cuda"),
                Dtype = r.OneOf(p + "generation.dtype", "", "auto", "float32", "bfloat16"),
            },
            RewardSources: sources,
            Rewards: rewards,
            Oni: new OniSettings(
                r.Bool(p + "oni.enabled"),
                r.String(p + "oni.labeller.source"),
                r.Double(p + "oni.labeller.sampling-rate", 0, 1),
                r.Double(p + "oni.labeller.labels-per-second", 0),
                r.Int(p + "oni.labeller.backlog", 1),
                r.Int(p + "oni.labeller.max-in-flight", 1, 10_000),
                r.Duration(p + "oni.labeller.deadline"),
                r.Int(p + "oni.training.steps-per-label-batch", 0, 10_000),
                r.Int(p + "oni.training.warmup-labels", 0),
                r.Int(p + "oni.training.steps-per-learner-step", 0, 10_000),
                r.Int(p + "oni.training.batch-size", 1),
                r.Int(p + "oni.training.heldout-every", 0),
                r.Int(p + "oni.training.publish-every-versions", 1),
                r.Double(p + "oni.beta", 0, 10),
                r.Config.GetConfig(p + "oni.reward-model"))
            {
                BatchWindow = r.Duration(p + "oni.training.batch-window"),
                PublishMinInterval = r.Duration(p + "oni.training.publish-min-interval"),
            },
            Buffer: new BufferSettings(r.Int(p + "buffer.capacity", 1)),
            Grpo: new GrpoRunSettings(
                r.Int(p + "grpo.steps", 0),
                r.Int(p + "grpo.batch-groups", 1),
                r.Int(p + "grpo.max-staleness", 0, 1000),
                r.Double(p + "grpo.learning-rate", 0, 1),
                r.Double(p + "grpo.weight-decay", 0, 1),
                r.Double(p + "grpo.max-grad-norm", 0),
                r.Double(p + "grpo.clip-low", 0, 1),
                r.Double(p + "grpo.clip-high", 0, 10),
                r.Double(p + "grpo.kl-coef", 0),
                r.Double(p + "grpo.is-cap", 1),
                r.Int(p + "grpo.epochs", 1, 100),
                r.Int(p + "grpo.mini-batches", 1, 1024))
            {
                DynamicSampling = r.Bool(p + "grpo.dynamic-sampling.enabled"),
                DynamicSamplingMaxDrops = r.Int(p + "grpo.dynamic-sampling.max-drops-per-batch", 0, 1_000_000),
                OverlongFilter = r.Bool(p + "grpo.overlong-filter"),
                WarmupSteps = r.Int(p + "grpo.warmup-steps", 0),
                EntropyCoef = r.Double(p + "grpo.entropy-coef", 0, 1),
            },
            Eval: new EvalSettings(r.Int(p + "eval.every-steps", 0), r.Int(p + "eval.limit", 0)),
            Checkpoint: new CheckpointSettings(r.Int(p + "checkpoint.every-steps", 0), r.Int(p + "checkpoint.keep", 1)),
            Timeouts: new TimeoutSettings(
                r.Duration(p + "timeouts.credit"),
                r.Duration(p + "timeouts.batch-wait"), r.Duration(p + "timeouts.shutdown")),
            Metrics: new MetricsSettings(r.Bool(p + "metrics.tensorboard"), r.Bool(p + "metrics.plots")))
        {
            Hocon = r.Config,
            Layers = layers,
        };

        if (settings.Policy.Source == "hf" && string.IsNullOrWhiteSpace(settings.Policy.Path))
            throw new ConfigException($"pipeline.policy.path is empty but pipeline.policy.source is hf (set by {layers.OriginOf("pipeline.policy.source")}): name a Hugging Face model folder (or use train --model <folder>)");
        if (settings.Policy.Lora.Enabled && settings.Policy.Source != "hf")
            throw new ConfigException($"pipeline.policy.lora.enabled = on ({layers.OriginOf("pipeline.policy.lora.enabled")}) needs pipeline.policy.source = hf: LoRA adapts a Hugging Face model's projections, the built-in model has none");
        foreach (var (key, dtype) in new[] { ("pipeline.policy.dtype", settings.Policy.Dtype), ("pipeline.generation.dtype", settings.Generation.Dtype) })
            if (dtype == "bfloat16" && settings.Policy.Source != "hf")
                throw new ConfigException($"{key} = bfloat16 ({layers.OriginOf(key)}) needs pipeline.policy.source = hf: the built-in model computes in float32 only");
        if (settings.Policy.Lora.TargetModules.Count == 0)
            throw new ConfigException($"pipeline.policy.lora.target-modules ({layers.OriginOf("pipeline.policy.lora.target-modules")}) is empty: name modules such as [q_proj, v_proj], or all-linear");
        if (settings.Policy.DModel % settings.Policy.Heads != 0)
            throw new ConfigException($"pipeline.policy.d-model ({settings.Policy.DModel}) must be divisible by pipeline.policy.heads ({settings.Policy.Heads})");
        if (settings.Oni.Enabled && !declared.Contains(settings.Oni.LabelSource))
            throw new ConfigException($"pipeline.oni.labeller.source = '{settings.Oni.LabelSource}' is not declared under pipeline.rewards.sources (declared: {string.Join(", ", declared)})");
        if (settings.Oni.Enabled && settings.RewardSources.Any(x => x.Name == settings.Oni.LabelSource))
            throw new ConfigException($"pipeline.oni.labeller.source = '{settings.Oni.LabelSource}' is also in pipeline.rewards.use: in ONI mode the critic labels for the reward model; drop it from rewards.use (or turn oni off)");
        if (!settings.Oni.Enabled && settings.RewardSources.Any(x => x.Type == "intrinsic"))
            throw new ConfigException("an 'intrinsic' reward source needs pipeline.oni.enabled = on (the critic-trained reward model behind it)");
        if (settings.Buffer.Capacity < settings.Grpo.BatchGroups)
            throw new ConfigException($"pipeline.buffer.capacity ({settings.Buffer.Capacity}) must hold at least one batch (pipeline.grpo.batch-groups = {settings.Grpo.BatchGroups})");
        return settings;
    }

    /// <summary>One declared source, pipeline.rewards.sources.&lt;name&gt;: every field checked.</summary>
    private static RewardSourceSpec Source(SettingsReader r, ConfigLayers layers, string name)
    {
        var k = $"pipeline.rewards.sources.{name}.";
        foreach (var field in new[] { "weight", "required", "deadline" })
            if (!r.Config.HasPath(k + field))
                throw new ConfigException($"reward source '{name}' lacks '{field}' (set {k}{field})");
        var spec = new RewardSourceSpec(name, r.Double(k + "weight"), r.Bool(k + "required"), r.Duration(k + "deadline"))
        {
            Type = r.Config.HasPath(k + "type") ? r.String(k + "type") : name,
            Normalizer = r.Config.HasPath(k + "normalizer") ? Normalizer(r, k + "normalizer") : RewardNormalizer.None,
            Transform = r.Config.HasPath(k + "transform") && r.OneOf(k + "transform", "none", "log-sigmoid") == "log-sigmoid"
                ? RewardTransform.LogSigmoid : RewardTransform.None,
            TransformOffset = r.Config.HasPath(k + "transform-offset") ? r.Double(k + "transform-offset") : 0,
        };
        if (spec.Type.Trim().Length == 0)
            throw new ConfigException($"{k}type in {layers.OriginOf(k + "type")} is empty: name a registered reward-source type");
        return spec;
    }

    /// <summary>pipeline.task.name: a plain word; whether a task of that name is registered is the task catalog's check (start-up, exit 2).</summary>
    private static string TaskName(SettingsReader r, ConfigLayers layers)
    {
        var name = r.String("pipeline.task.name").Trim();
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw new ConfigException($"pipeline.task.name = '{name}' in {layers.OriginOf("pipeline.task.name")}: expected a registered task's name (built in: sql, jsonl, spider)");
        return name;
    }

    private static Config TaskBlock(Config config, string name)
    {
        var key = "pipeline.task." + name.Trim();
        return config.HasPath(key) && config.GetValue(key).IsObject() ? config.GetConfig(key) : Config.Empty;
    }

    private static RewardNormalizer Normalizer(SettingsReader r, string key)
        => r.OneOf(key, "none", "running", "group-rank") switch
        {
            "running" => RewardNormalizer.Running,
            "group-rank" => RewardNormalizer.GroupRank,
            _ => RewardNormalizer.None,
        };

    /// <summary>
    /// Standard layering: built-in defaults, then hocon/base.conf and hocon/&lt;mode&gt;.conf from <paramref name="hoconDir"/>,
    /// then the user's file, then --set overrides in order.
    /// </summary>
    public static PipelineSettings Load(string hoconDir, string mode, string? userFile, IEnumerable<string> overrides)
        => Load(hoconDir, mode, [], userFile, overrides);

    /// <summary>
    /// As <see cref="Load(string,string,string?,IEnumerable{string})"/>, with <paramref name="modeLayers"/> (paths relative to
    /// <paramref name="hoconDir"/> without ".conf", e.g. "roles/learner") between the mode file and the user's file; a
    /// missing one is skipped.
    /// </summary>
    public static PipelineSettings Load(string hoconDir, string mode, IEnumerable<string> modeLayers, string? userFile, IEnumerable<string> overrides)
    {
        var layers = new ConfigLayers();
        layers.AddFile(Path.Combine(hoconDir, "base.conf"), optional: true);
        layers.AddFile(Path.Combine(hoconDir, mode + ".conf"), optional: true);
        foreach (var extra in modeLayers) layers.AddFile(Path.Combine(hoconDir, extra + ".conf"), optional: true);
        if (userFile is not null) layers.AddFile(userFile);
        foreach (var o in overrides) layers.AddOverride(o);
        return From(layers);
    }
}
