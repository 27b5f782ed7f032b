using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf;

/// <summary>How RoPE frequencies are built: <c>rope_theta</c> and, when present, <c>rope_scaling</c> (or, as
/// transformers 5 writes them, both inside <c>rope_parameters</c>).</summary>
/// <param name="Type">default, linear or llama3.</param>
public sealed record RopeSettings(
    double Theta,
    string Type = "default",
    double Factor = 1.0,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192)
{
    public static readonly string[] SupportedTypes = ["default", "linear", "llama3"];
}

/// <summary>
/// A Hugging Face Llama <c>config.json</c>. Every field that changes the computation is read; a field value this model
/// cannot compute (another architecture, a rope_scaling type, an activation, quantization) is refused with a
/// <see cref="ConfigException"/> naming the field, never ignored.
/// </summary>
public sealed record LlamaConfig(
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int HeadDim,
    int MaxPositionEmbeddings,
    double RmsNormEps,
    RopeSettings Rope,
    bool TieWordEmbeddings,
    bool AttentionBias = false,
    bool MlpBias = false,
    int? BosTokenId = null,
    IReadOnlyList<int>? EosTokenIds = null)
{
    public const string FileName = "config.json";
    public static readonly string[] SupportedModelTypes = ["llama"];
    public static readonly string[] SupportedArchitectures = ["LlamaForCausalLM"];

    public static LlamaConfig Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!Directory.Exists(folder)) throw new ConfigException($"model folder {folder} does not exist");
        if (!File.Exists(path)) throw new ConfigException($"model folder {folder} has no {FileName}");
        using var doc = JsonFields.Parse(path);
        return Read(JsonFields.Root(doc, path));
    }

    internal static LlamaConfig Read(JsonFields f)
    {
        var modelType = f.OptString("model_type") ?? throw f.Error("model_type", "is missing");
        if (!SupportedModelTypes.Contains(modelType))
            throw f.Error("model_type", $"is '{modelType}', which is not supported (supported: {string.Join(", ", SupportedModelTypes)})");
        if (f.Get("architectures") is { } archs)
        {
            if (archs.ValueKind != System.Text.Json.JsonValueKind.Array) throw f.Error("architectures", "must be a list of class names");
            foreach (var a in archs.EnumerateArray())
            {
                var name = a.ValueKind == System.Text.Json.JsonValueKind.String ? a.GetString()! : a.GetRawText();
                if (!SupportedArchitectures.Contains(name))
                    throw f.Error("architectures", $"names '{name}', which is not supported (supported: {string.Join(", ", SupportedArchitectures)})");
            }
        }
        if (f.Has("quantization_config")) throw f.Error("quantization_config", "is present: quantized checkpoints are not supported (use fp32, fp16 or bf16 weights)");
        var act = f.OptString("hidden_act") ?? "silu";
        if (act != "silu") throw f.Error("hidden_act", $"is '{act}'; Llama's MLP here is SwiGLU with 'silu' only");

        var hidden = f.PositiveInt("hidden_size");
        var heads = f.PositiveInt("num_attention_heads");
        var kvHeads = f.OptInt("num_key_value_heads") ?? heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw f.Error("num_key_value_heads", $"is {kvHeads}; it must divide num_attention_heads ({heads})");
        var headDim = f.OptInt("head_dim") ?? (hidden % heads == 0 ? hidden / heads : throw f.Error("num_attention_heads", $"({heads}) does not divide hidden_size ({hidden}) and no head_dim is given"));
        if (headDim <= 0 || headDim % 2 != 0) throw f.Error("head_dim", $"is {headDim}; RoPE needs a positive even head size");
        var eps = f.OptDouble("rms_norm_eps") ?? 1e-6;
        if (eps <= 0) throw f.Error("rms_norm_eps", $"must be positive, got {eps}");

        return new LlamaConfig(
            VocabSize: f.PositiveInt("vocab_size"),
            HiddenSize: hidden,
            IntermediateSize: f.PositiveInt("intermediate_size"),
            NumHiddenLayers: f.PositiveInt("num_hidden_layers"),
            NumAttentionHeads: heads,
            NumKeyValueHeads: kvHeads,
            HeadDim: headDim,
            MaxPositionEmbeddings: f.OptInt("max_position_embeddings") ?? 2048,
            RmsNormEps: eps,
            Rope: ReadRope(f),
            // HF's LlamaConfig defaults tie_word_embeddings to false.
            TieWordEmbeddings: f.OptBool("tie_word_embeddings") ?? false,
            AttentionBias: f.OptBool("attention_bias") ?? false,
            MlpBias: f.OptBool("mlp_bias") ?? false,
            BosTokenId: f.OptInt("bos_token_id"),
            EosTokenIds: f.IntOrIntList("eos_token_id"));
    }

    private static RopeSettings ReadRope(JsonFields f)
    {
        // transformers 5 writes rope_parameters (theta inside); older files write rope_theta and rope_scaling.
        var parameters = f.OptObject("rope_parameters");
        var scaling = parameters ?? f.OptObject("rope_scaling");
        var theta = parameters?.OptDouble("rope_theta") ?? f.OptDouble("rope_theta") ?? 10000.0;
        if (theta <= 0) throw f.Error("rope_theta", $"must be positive, got {theta}");
        if (scaling is null) return new RopeSettings(theta);

        var typeField = scaling.Has("rope_type") ? "rope_type" : "type";
        var type = scaling.OptString(typeField) ?? throw scaling.Error("rope_type", "is missing");
        switch (type)
        {
            case "default":
                return new RopeSettings(theta);
            case "linear":
            {
                var factor = scaling.Double("factor");
                if (factor <= 0) throw scaling.Error("factor", $"must be positive, got {factor}");
                return new RopeSettings(theta, "linear", factor);
            }
            case "llama3":
            {
                var factor = scaling.Double("factor");
                var low = scaling.Double("low_freq_factor");
                var high = scaling.Double("high_freq_factor");
                var original = scaling.Int("original_max_position_embeddings");
                if (factor <= 0) throw scaling.Error("factor", $"must be positive, got {factor}");
                if (!(high > low) || low <= 0) throw scaling.Error("high_freq_factor", $"must exceed low_freq_factor ({low}) > 0, got {high}");
                if (original <= 0) throw scaling.Error("original_max_position_embeddings", $"must be positive, got {original}");
                return new RopeSettings(theta, "llama3", factor, low, high, original);
            }
            default:
                throw scaling.Error(typeField, $"is '{type}', which is not supported (supported: {string.Join(", ", RopeSettings.SupportedTypes)})");
        }
    }
}
