using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Oni.RewardModels;

/// <summary>The three ONI reward-model variants (HOCON <c>variant</c>).</summary>
public enum RewardModelVariant
{
    /// <summary><c>retrieval</c>: a table from text hash to label; unseen texts get <c>default-reward</c>.</summary>
    Retrieval,
    /// <summary><c>classification</c>: an MLP classifier trained on pointwise labels (BCE).</summary>
    Classification,
    /// <summary><c>ranking</c>: a Bradley-Terry scalar head trained on pairwise preferences.</summary>
    Ranking,
}

/// <summary>What the torch models read (HOCON <c>features</c>).</summary>
public enum FeatureKind
{
    /// <summary><c>embedding</c>: frozen sentence embeddings from an <see cref="Pipeline.Rewards.Similarity.ISentenceEncoder"/> (all-MiniLM-L6-v2 by default, 384 dims).</summary>
    Embedding,
    /// <summary><c>chars</c>: hashed character n-grams (<see cref="CharFeaturizer"/>); no encoder needed.</summary>
    Chars,
    /// <summary><c>pair</c>: the (prompt, completion) pair (<see cref="PairFeaturizer"/>): completion n-grams, prompt x completion
    /// word crosses and literal overlap; read with <c>input = prompt-completion</c>.</summary>
    Pair,
}

/// <summary>What text the reward model reads for one completion (HOCON <c>input</c>).</summary>
public enum RewardModelInput
{
    /// <summary><c>completion</c>: the completion alone.</summary>
    Completion,
    /// <summary><c>prompt-completion</c>: the prompt and the completion, joined by <see cref="RewardModelInputs.Separator"/>.</summary>
    PromptCompletion,
}

/// <summary>How a classifier's (or a retrieval table's) value is reported (HOCON <c>output</c>).</summary>
public enum RewardOutput
{
    /// <summary><c>probability</c>: P(positive) (retrieval: the stored label value).</summary>
    Probability,
    /// <summary><c>decision</c>: 1 when P(positive) &gt;= <c>decision-threshold</c>, else 0.</summary>
    Decision,
}

/// <summary>How the retrieval table combines several labels of one text (HOCON <c>aggregate</c>).</summary>
public enum RetrievalAggregate
{
    /// <summary><c>latest</c>: the newest label wins.</summary>
    Latest,
    /// <summary><c>mean</c>: the mean of every label the text received.</summary>
    Mean,
}

/// <summary>
/// Settings of the ONI reward models. Each field gives its kebab-case HOCON name (the block the wiring reads, e.g.
/// <c>pipeline.oni.reward-model</c>, is up to the caller: see <see cref="FromConfig"/>). Fields that a variant does not
/// use are ignored by it. The same names are used in the saved <c>meta.json</c>.
/// </summary>
public sealed record RewardModelOptions
{
    /// <summary><c>variant = retrieval | classification | ranking</c>. Default classification.</summary>
    public RewardModelVariant Variant { get; init; } = RewardModelVariant.Classification;

    /// <summary><c>features = embedding | chars</c> (classification, ranking). Default embedding.</summary>
    public FeatureKind Features { get; init; } = FeatureKind.Embedding;

    /// <summary><c>input = completion | prompt-completion</c>: what the model reads. Default completion.</summary>
    public RewardModelInput Input { get; init; } = RewardModelInput.Completion;

    /// <summary><c>hidden</c>: width of the MLP's hidden layer (ReLU); 0 = a linear head. Default 128.</summary>
    public int Hidden { get; init; } = 128;

    /// <summary><c>learning-rate</c>: AdamW learning rate. Default 1e-3.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary><c>weight-decay</c>: AdamW decoupled weight decay. Default 0.01.</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary><c>batch-size</c>: labels per gradient step; the trainer slices its label stream by it (a
    /// <c>TrainStep</c> takes whatever batch it is given as one step). Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary><c>max-grad-norm</c>: global gradient-norm clip; 0 = no clipping (the norm is still checked for finiteness). Default 1.0.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary><c>label-threshold</c>: a point label with <c>score &gt;= label-threshold</c> is positive. Default 0.5.</summary>
    public double LabelThreshold { get; init; } = 0.5;

    /// <summary><c>output = probability | decision</c> (classification, retrieval). Default probability.</summary>
    public RewardOutput Output { get; init; } = RewardOutput.Probability;

    /// <summary><c>decision-threshold</c>: P(positive) (or table value) at or above which the decision is 1; also used by
    /// <c>Agreement</c>. Default 0.5.</summary>
    public double DecisionThreshold { get; init; } = 0.5;

    /// <summary><c>default-reward</c>: value for unseen texts (retrieval) and for an untrained model or a non-finite output
    /// (torch variants); such values have Known = false. Default 0.</summary>
    public double DefaultReward { get; init; }

    /// <summary><c>max-entries</c>: retrieval table bound; the entry labelled longest ago is evicted first. Default 100000.</summary>
    public int MaxEntries { get; init; } = 100_000;

    /// <summary><c>aggregate = latest | mean</c>: retrieval, several labels of one text. Default latest.</summary>
    public RetrievalAggregate Aggregate { get; init; } = RetrievalAggregate.Latest;

    /// <summary><c>class-balance = on | off</c>: classification, BCE pos_weight = negatives / positives over all labels
    /// trained on so far (clamped to [0.05, 20]); replaces <see cref="PosWeight"/>. Default off.</summary>
    public bool ClassBalance { get; init; }

    /// <summary><c>pos-weight</c>: classification, fixed BCE pos_weight when class-balance is off. Default 1.</summary>
    public double PosWeight { get; init; } = 1.0;

    /// <summary><c>normalize = on | off</c>: ranking, report (r - mean) / std over a running (Welford) estimate of the raw
    /// scores seen by <c>Score</c>. Default on.</summary>
    public bool Normalize { get; init; } = true;

    /// <summary><c>quantile-floor</c>: ranking, q in (0, 1): raw scores below the q-quantile of the recent raw scores are
    /// raised to it before normalising; <c>off</c> (null) disables it. Default off.</summary>
    public double? QuantileFloor { get; init; }

    /// <summary><c>quantile-window</c>: ranking, how many recent raw scores the quantile floor looks at. Default 1024.</summary>
    public int QuantileWindow { get; init; } = 1024;

    /// <summary><c>char-dim</c>: size of the hashed character n-gram bag (features = chars). Default 2048.</summary>
    public int CharDim { get; init; } = 2048;

    /// <summary><c>char-ngram-min</c>: shortest character n-gram. Default 1.</summary>
    public int CharNgramMin { get; init; } = 1;

    /// <summary><c>char-ngram-max</c>: longest character n-gram. Default 3.</summary>
    public int CharNgramMax { get; init; } = 3;

    /// <summary><c>char-lowercase = on | off</c>: lower-case texts before hashing n-grams. Default off.</summary>
    public bool CharLowercase { get; init; }

    /// <summary><c>embedding-cache</c>: embeddings kept (LRU, keyed by encoder model + text hash) so that re-training on the
    /// same labels or scoring a text again does not re-encode it; 0 disables. Default 50000.</summary>
    public int EmbeddingCache { get; init; } = 50_000;

    /// <summary><c>seed</c>: weight initialisation (a private torch generator; the global torch RNG is never touched). Default 0.</summary>
    public long Seed { get; init; }

    /// <summary><c>device = auto | cpu | cuda[:N]</c>: where the head runs (see <see cref="Pipeline.Learning.TorchRuntime.ResolveDevice"/>). Default cpu.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary><c>torch-threads</c>: if &gt; 0, calls <see cref="Pipeline.Learning.TorchRuntime.Configure"/> with it when a
    /// torch model is built. torch's intra-op thread count is PROCESS-wide, so the default 0 leaves it alone (in a
    /// single-process run the learner owns it). Set 1 where the reward model has the process to itself (an rm-trainer node):
    /// these heads are tiny, and on a busy 2-core machine a 2048-64-1 training step ran 5-15 times slower with two torch
    /// threads than with one (about 5 ms with one). Default 0.</summary>
    public int TorchThreads { get; init; }

    /// <summary>The settings block ONI's reward model reads.</summary>
    public const string Block = "pipeline.oni.reward-model";

    /// <summary>Throws <see cref="ArgumentException"/> naming the HOCON key of the first invalid field; returns this.</summary>
    public RewardModelOptions Validate() => Validate((key, value, rule) => new ArgumentException($"{key} = {value}: {rule}"));

    /// <summary>As <see cref="Validate()"/>, with the exception made by <paramref name="error"/> from (key, value, rule).</summary>
    public RewardModelOptions Validate(Func<string, object?, string, Exception> error)
    {
        void Check(bool ok, string key, object? value, string rule)
        {
            if (!ok) throw error(key, value, rule);
        }

        Check(Enum.IsDefined(Variant), "variant", Variant, "must be retrieval | classification | ranking");
        Check(Enum.IsDefined(Features), "features", Features, "must be embedding | chars | pair");
        Check(Enum.IsDefined(Input), "input", Input, "must be completion | prompt-completion");
        Check(Enum.IsDefined(Output), "output", Output, "must be probability | decision");
        Check(Enum.IsDefined(Aggregate), "aggregate", Aggregate, "must be latest | mean");
        Check(Hidden >= 0, "hidden", Hidden, "must be >= 0 (0 = linear head)");
        Check(double.IsFinite(LearningRate) && LearningRate > 0, "learning-rate", LearningRate, "must be a finite number > 0");
        Check(double.IsFinite(WeightDecay) && WeightDecay >= 0, "weight-decay", WeightDecay, "must be >= 0");
        Check(BatchSize >= 1, "batch-size", BatchSize, "must be >= 1");
        Check(double.IsFinite(MaxGradNorm) && MaxGradNorm >= 0, "max-grad-norm", MaxGradNorm, "must be >= 0 (0 = no clipping)");
        Check(double.IsFinite(LabelThreshold), "label-threshold", LabelThreshold, "must be finite");
        Check(double.IsFinite(DecisionThreshold), "decision-threshold", DecisionThreshold, "must be finite");
        Check(double.IsFinite(DefaultReward), "default-reward", DefaultReward, "must be finite");
        Check(MaxEntries >= 1, "max-entries", MaxEntries, "must be >= 1");
        Check(double.IsFinite(PosWeight) && PosWeight > 0, "pos-weight", PosWeight, "must be > 0");
        Check(QuantileFloor is null || (QuantileFloor > 0 && QuantileFloor < 1), "quantile-floor", QuantileFloor, "must be off or in (0, 1)");
        Check(QuantileWindow >= 1, "quantile-window", QuantileWindow, "must be >= 1");
        Check(CharDim >= 1, "char-dim", CharDim, "must be >= 1");
        Check(CharNgramMin >= 1, "char-ngram-min", CharNgramMin, "must be >= 1");
        Check(CharNgramMax >= CharNgramMin && CharNgramMax <= 16, "char-ngram-max", CharNgramMax, "must be within [char-ngram-min, 16]");
        Check(EmbeddingCache >= 0, "embedding-cache", EmbeddingCache, "must be >= 0");
        Check(TorchThreads >= 0, "torch-threads", TorchThreads, "must be >= 0");
        Check(!string.IsNullOrWhiteSpace(Device), "device", Device, "must be auto | cpu | cuda");
        return this;
    }

    /// <summary>
    /// Reads a reward-model block (absent keys keep their defaults; switches take on/off/true/false/yes/no,
    /// <c>quantile-floor</c> also <c>off</c>/<c>none</c>). Errors are <see cref="ConfigException"/>s naming the key.
    /// </summary>
    /// <param name="originOf">The settings loader's origin of a full key (file or --set), for the error message; null: not named.</param>
    public static RewardModelOptions FromConfig(Config? config, Func<string, string>? originOf = null)
    {
        var d = new RewardModelOptions();
        if (config is null || config.IsEmpty) return d;

        var block = new ConfigBlock(config, Block, originOf);
        T Parse<T>(string key, T fallback, Func<string, T> parse) => block.Parse(key, fallback, parse);
        int Int(string key, int fallback) => block.Int(key, fallback);
        long Long(string key, long fallback) => block.Long(key, fallback);
        double Dbl(string key, double fallback) => block.Double(key, fallback);
        bool Bool(string key, bool fallback) => block.Bool(key, fallback);
        TEnum Enum<TEnum>(string key, TEnum fallback) where TEnum : struct, Enum =>
            Parse(key, fallback, s => ParseEnum<TEnum>(s));

        var options = new RewardModelOptions
        {
            Variant = Enum("variant", d.Variant),
            Features = Enum("features", d.Features),
            Input = Enum("input", d.Input),
            Hidden = Int("hidden", d.Hidden),
            LearningRate = Dbl("learning-rate", d.LearningRate),
            WeightDecay = Dbl("weight-decay", d.WeightDecay),
            BatchSize = Int("batch-size", d.BatchSize),
            MaxGradNorm = Dbl("max-grad-norm", d.MaxGradNorm),
            LabelThreshold = Dbl("label-threshold", d.LabelThreshold),
            Output = Enum("output", d.Output),
            DecisionThreshold = Dbl("decision-threshold", d.DecisionThreshold),
            DefaultReward = Dbl("default-reward", d.DefaultReward),
            MaxEntries = Int("max-entries", d.MaxEntries),
            Aggregate = Enum("aggregate", d.Aggregate),
            ClassBalance = Bool("class-balance", d.ClassBalance),
            PosWeight = Dbl("pos-weight", d.PosWeight),
            Normalize = Bool("normalize", d.Normalize),
            QuantileFloor = Parse("quantile-floor", d.QuantileFloor, s => s.ToLowerInvariant() is "off" or "none" or "false" or ""
                ? null
                : double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture)),
            QuantileWindow = Int("quantile-window", d.QuantileWindow),
            CharDim = Int("char-dim", d.CharDim),
            CharNgramMin = Int("char-ngram-min", d.CharNgramMin),
            CharNgramMax = Int("char-ngram-max", d.CharNgramMax),
            CharLowercase = Bool("char-lowercase", d.CharLowercase),
            EmbeddingCache = Int("embedding-cache", d.EmbeddingCache),
            Seed = Long("seed", d.Seed),
            Device = Parse("device", d.Device, s => s),
            TorchThreads = Int("torch-threads", d.TorchThreads),
        };
        return options.Validate(block.Error);
    }

    /// <summary>Kebab-case name of an enum value (e.g. <c>classification</c>).</summary>
    public static string Name<TEnum>(TEnum value) where TEnum : struct, Enum =>
        JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    internal static TEnum ParseEnum<TEnum>(string s) where TEnum : struct, Enum
    {
        foreach (var v in System.Enum.GetValues<TEnum>())
            if (string.Equals(Name(v), s, StringComparison.OrdinalIgnoreCase)) return v;
        throw new FormatException($"expected {string.Join(" | ", System.Enum.GetValues<TEnum>().Select(Name))}");
    }

    /// <summary>JSON settings of meta.json: kebab-case property names and enum values, as in HOCON.</summary>
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
