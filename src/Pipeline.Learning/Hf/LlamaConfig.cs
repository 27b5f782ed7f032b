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
/// A Hugging Face decoder <c>config.json</c> of the Llama family or its close kin Qwen2/Qwen2.5 and Qwen3. Every field
/// that changes the computation is read, with each family's defaults; a field value this model cannot compute (another
/// architecture, a rope_scaling type, an activation, sliding-window attention, quantization) is refused with a
/// <see cref="ConfigException"/> naming the field, never ignored.
/// </summary>
/// <param name="AttentionBias">Biases on q_proj, k_proj and v_proj.</param>
/// <param name="AttentionOutputBias">A bias on o_proj (Llama and Qwen3: attention_bias; Qwen2: never).</param>
/// <param name="QkNorm">Qwen3's q_norm/k_norm: RMSNorm over head_dim on each query and key head, before RoPE.</param>
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
    IReadOnlyList<int>? EosTokenIds = null,
    string ModelType = "llama",
    bool AttentionOutputBias = false,
    bool QkNorm = false)
{
    public const string FileName = "config.json";
    public static readonly string[] SupportedModelTypes = ["llama", "qwen2", "qwen3"];
    public static readonly string[] SupportedArchitectures = ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"];

    // Each model_type's own CausalLM class: a qwen2 config naming LlamaForCausalLM would build a different model in HF.
    private static readonly Dictionary<string, string> ArchitectureOf = new()
    {
        ["llama"] = "LlamaForCausalLM", ["qwen2"] = "Qwen2ForCausalLM", ["qwen3"] = "Qwen3ForCausalLM",
    };

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
                if (name != ArchitectureOf[modelType])
                    throw f.Error("architectures", $"names '{name}', but model_type '{modelType}' is computed by {ArchitectureOf[modelType]}");
            }
        }
        if (f.Has("quantization_config")) throw f.Error("quantization_config", "is present: quantized checkpoints are not supported (use fp32, fp16 or bf16 weights)");
        var act = f.OptString("hidden_act") ?? "silu";
        if (act != "silu") throw f.Error("hidden_act", $"is '{act}'; Llama's MLP here is SwiGLU with 'silu' only");

        var qwen = modelType != "llama";
        var hidden = f.PositiveInt("hidden_size");
        var heads = f.PositiveInt("num_attention_heads");
        // Qwen2Config and Qwen3Config default num_key_value_heads to 32 and Qwen3Config head_dim to 128; LlamaConfig
        // derives both from the query heads.
        var kvHeads = f.OptInt("num_key_value_heads") ?? (qwen ? 32 : heads);
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw f.Error("num_key_value_heads", $"is {kvHeads}; it must divide num_attention_heads ({heads})");
        var headDim = f.OptInt("head_dim") ?? (modelType == "qwen3" ? 128
            : hidden % heads == 0 ? hidden / heads : throw f.Error("num_attention_heads", $"({heads}) does not divide hidden_size ({hidden}) and no head_dim is given"));
        if (headDim <= 0 || headDim % 2 != 0) throw f.Error("head_dim", $"is {headDim}; RoPE needs a positive even head size");
        var eps = f.OptDouble("rms_norm_eps") ?? 1e-6;
        if (eps <= 0) throw f.Error("rms_norm_eps", $"must be positive, got {eps}");
        // transformers 4 writes partial_rotary_factor at the top level, transformers 5 inside rope_parameters.
        foreach (var scope in new[] { f, f.OptObject("rope_parameters"), f.OptObject("rope_scaling") })
            if (scope?.OptDouble("partial_rotary_factor") is { } partial && partial != 1.0)
                throw scope.Error("partial_rotary_factor", $"is {partial}; only full rotary embeddings (1.0) are supported");
        // Training would apply it to the attention weights; our attention has no dropout, so only 0 is computed as HF does.
        var dropout = f.OptDouble("attention_dropout") ?? 0.0;
        if (dropout != 0.0) throw f.Error("attention_dropout", $"is {dropout}; attention dropout is not supported (use 0.0)");
        var layers = f.PositiveInt("num_hidden_layers");
        if (qwen) RefuseSlidingWindow(f, layers);
        // Qwen2 hard-codes biases on q/k/v and none on o_proj or the MLP; Qwen3 reads attention_bias for all four.
        var attentionBias = modelType switch { "qwen2" => true, _ => f.OptBool("attention_bias") ?? false };
        var outputBias = modelType == "qwen2" ? false : attentionBias;

        return new LlamaConfig(
            VocabSize: f.PositiveInt("vocab_size"),
            HiddenSize: hidden,
            IntermediateSize: f.PositiveInt("intermediate_size"),
            NumHiddenLayers: layers,
            NumAttentionHeads: heads,
            NumKeyValueHeads: kvHeads,
            HeadDim: headDim,
            MaxPositionEmbeddings: f.OptInt("max_position_embeddings") ?? (qwen ? 32768 : 2048),
            RmsNormEps: eps,
            Rope: ReadRope(f),
            // HF's LlamaConfig, Qwen2Config and Qwen3Config all default tie_word_embeddings to false.
            TieWordEmbeddings: f.OptBool("tie_word_embeddings") ?? false,
            AttentionBias: attentionBias,
            // Only LlamaMLP reads mlp_bias; Qwen's MLPs have no biases.
            MlpBias: !qwen && (f.OptBool("mlp_bias") ?? false),
            BosTokenId: f.OptInt("bos_token_id"),
            EosTokenIds: f.IntOrIntList("eos_token_id"),
            ModelType: modelType,
            AttentionOutputBias: outputBias,
            QkNorm: modelType == "qwen3");
    }

    /// <summary>
    /// Qwen2/Qwen3 attend within a sliding window on the layers <c>layer_types</c> marks <c>sliding_attention</c> (by
    /// default, with <c>use_sliding_window</c>, layers from <c>max_window_layers</c> on). Only full attention is computed
    /// here, so a configuration that would slide on any layer is refused.
    /// </summary>
    private static void RefuseSlidingWindow(JsonFields f, int layers)
    {
        var use = f.OptBool("use_sliding_window") ?? false;
        var window = f.OptInt("sliding_window");
        // HF drops sliding_window unless use_sliding_window is true.
        var sliding = use && window is not null;
        if (sliding && window <= 0) throw f.Error("sliding_window", $"must be positive, got {window}");
        if (f.Get("layer_types") is { } types)
        {
            if (types.ValueKind != System.Text.Json.JsonValueKind.Array || types.GetArrayLength() != layers)
                throw f.Error("layer_types", $"must be a list of {layers} entries (one per num_hidden_layers), got {types.GetRawText()}");
            var i = 0;
            foreach (var t in types.EnumerateArray())
            {
                var type = t.ValueKind == System.Text.Json.JsonValueKind.String ? t.GetString()! : t.GetRawText();
                if (type == "sliding_attention")
                    throw f.Error("layer_types", $"marks layer {i} 'sliding_attention'; sliding-window attention is not supported (every layer must be 'full_attention')");
                if (type != "full_attention")
                    throw f.Error("layer_types", $"names '{type}' for layer {i}, which is not supported (supported: full_attention)");
                i++;
            }
            return;
        }
        var maxWindowLayers = f.OptInt("max_window_layers") ?? 28;
        if (sliding && maxWindowLayers < layers)
            throw f.Error("use_sliding_window", $"is true with sliding_window {window}: layers {Math.Max(maxWindowLayers, 0)} to {layers - 1} (max_window_layers {maxWindowLayers}) would use sliding-window attention, which is not supported");
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
