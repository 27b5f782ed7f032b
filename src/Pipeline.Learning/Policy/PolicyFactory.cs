using System.Globalization;
using Pipeline.Core.Configuration;
using TorchSharp;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using Pipeline.Learning.Model;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Learning.Policy;

/// <summary>
/// Makes the policy from configuration (<c>pipeline.policy.source = builtin | hf</c>, <c>pipeline.policy.path</c>): the one
/// place that names a concrete model or tokenizer class. Every role that holds a policy (learner, KL reference,
/// generators, evaluator) gets one of these and calls <see cref="Create"/>.
/// </summary>
public abstract record PolicyFactory
{
    /// <summary>builtin or hf.</summary>
    public abstract string Source { get; }

    /// <summary>Ids the LM head scores.</summary>
    public abstract int VocabSize { get; }

    /// <summary>Longest sequence (prompt plus completion) the policy runs on.</summary>
    public abstract int ContextLength { get; }

    /// <summary>Where policies are placed: <c>pipeline.device</c> (auto | cpu | cuda[:N]); the default is the CPU.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary><c>pipeline.policy.dtype</c>: auto | float32 | bfloat16 (see <see cref="WeightsDtype"/>).</summary>
    public string Dtype { get; init; } = "auto";

    /// <summary>The weights' dtype: bfloat16 when asked for, or for auto an hf policy on CUDA; float32 otherwise.</summary>
    public TorchSharp.torch.ScalarType WeightsDtype(TorchSharp.torch.Device device) => Dtype switch
    {
        "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
        "auto" when Source == "hf" && device.type == TorchSharp.DeviceType.CUDA => TorchSharp.torch.ScalarType.BFloat16,
        _ => TorchSharp.torch.ScalarType.Float32,
    };

    /// <summary>The same policy placed elsewhere ("" keeps this one's device or dtype): generators beside a learner on another device.</summary>
    public PolicyFactory PlacedOn(string device, string dtype) => this with
    {
        Device = string.IsNullOrEmpty(device) ? Device : device,
        Dtype = string.IsNullOrEmpty(dtype) ? Dtype : dtype,
    };

    /// <summary>A new policy on <see cref="Device"/> in <see cref="WeightsDtype"/>: the built-in one initialised from <paramref name="seed"/>, an hf one with the folder's weights.</summary>
    public PolicyNetwork Create(long seed)
    {
        var model = CreateOnCpu(seed);
        var device = TorchRuntime.ResolveDevice(Device);
        if (device.type != TorchSharp.DeviceType.CPU) model.to(device);
        var dtype = WeightsDtype(device);
        if (dtype != TorchSharp.torch.ScalarType.Float32) model.to(dtype);
        return model;
    }

    /// <summary>A new policy in CPU memory.</summary>
    protected abstract PolicyNetwork CreateOnCpu(long seed);

    /// <summary>The state dict's names and shapes, without loading weights (resume checks).</summary>
    public IReadOnlyDictionary<string, long[]> ParameterShapes()
    {
        using var shell = CreateShell();
        return shell.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
    }

    /// <summary>A policy of the right shape with arbitrary weights.</summary>
    protected abstract PolicyNetwork CreateShell();

    /// <summary>What a checkpoint records about the policy, so a resume that changes it is refused by key.</summary>
    public abstract Dictionary<string, string> CheckpointExtras();

    /// <summary>With LoRA on: checkpoints hold only the adapters (PEFT layout) over this frozen base; null: full weights.</summary>
    public virtual Checkpoints.AdapterCheckpoint? AdapterCheckpoint() => null;

    /// <summary>One line for errors and logs.</summary>
    public abstract string Describe();

    /// <summary>The policy of <paramref name="settings"/> on <paramref name="device"/> (<c>pipeline.device</c>).</summary>
    public static PolicyFactory From(PolicySettings settings, IPolicyTokenizer tokenizer, string device)
        => From(settings, tokenizer) with { Device = device };

    public static PolicyFactory From(PolicySettings settings, IPolicyTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(tokenizer);
        RefuseLoraOnBuiltin(settings);
        if (settings.Dtype == "bfloat16" && settings.Source != "hf")
            throw new ConfigException($"pipeline.policy.dtype = bfloat16 needs pipeline.policy.source = hf (it is {settings.Source}): the built-in model computes in float32 only");
        PolicyFactory factory = settings.Source switch
        {
            "builtin" => Builtin(settings, tokenizer.VocabSize),
            "hf" => HfPolicy.Open(settings, tokenizer),
            _ => throw new ConfigException($"pipeline.policy.source is '{settings.Source}'; expected builtin | hf"),
        };
        return factory with { Dtype = settings.Dtype };
    }

    /// <summary>The built-in policy of <paramref name="settings"/>' shape over <paramref name="vocabularySize"/> ids.</summary>
    public static PolicyFactory Builtin(PolicySettings settings, int vocabularySize)
        => new BuiltinPolicy(
            new PolicyConfig(vocabularySize, settings.DModel, settings.Layers, settings.Heads, settings.Context,
                Positions: settings.Positions == "rotary" ? PositionEncoding.Rotary : PositionEncoding.Learned),
            settings);

    /// <summary>A new run's tokenizer: learned from the task's text (builtin), or the model folder's own (hf).</summary>
    public static IPolicyTokenizer CreateTokenizer(PolicySettings settings, IPipelineTask task) => settings.Source switch
    {
        "hf" => HfPolicyTokenizer.Load(settings.Path, LlamaConfig.Load(settings.Path), settings.ChatTemplate),
        _ => PolicyTokenizer.Train(task.TokenizerCorpus, settings.VocabSize, task.TokenizerAlphabet),
    };

    /// <summary>The tokenizer a run saved into <paramref name="directory"/> (<see cref="IPolicyTokenizer.Save"/>).</summary>
    public static IPolicyTokenizer LoadTokenizer(PolicySettings settings, string directory) => settings.Source switch
    {
        // The run's copy holds the template it started with (a user's own file as chat_template.jinja).
        "hf" => HfPolicyTokenizer.Load(directory, LlamaConfig.Load(settings.Path), settings.ChatTemplate == "none" ? "none" : "auto"),
        _ => PolicyTokenizer.Load(directory),
    };

    /// <summary>Checks an hf folder (config.json, weights index, tokenizer) without loading weights; nothing for builtin.</summary>
    /// <exception cref="ConfigException">What is wrong, naming the file or field.</exception>
    public static void Validate(PolicySettings settings)
    {
        RefuseLoraOnBuiltin(settings);
        if (settings.Source != "hf") return;
        if (settings.Lora.Enabled)
        {
            var lora = LoraAdapterConfig.From(settings.Lora);
            var unknown = lora.TargetModules.Where(t => t != LoraAdapterConfig.AllLinear && !LlamaForCausalLM.Projections.Contains(t[(t.LastIndexOf('.') + 1)..])).ToList();
            if (unknown.Count > 0)
                throw new ConfigException($"pipeline.policy.lora.target-modules: {string.Join(", ", unknown)} name(s) no projection of the model (it has {string.Join(", ", LlamaForCausalLM.Projections)}, or all-linear)");
        }
        var config = LlamaConfig.Load(settings.Path);
        HfCheckpoint.Open(settings.Path);
        HfPolicyTokenizer.Load(settings.Path, config, settings.ChatTemplate);
    }

    private static void RefuseLoraOnBuiltin(PolicySettings settings)
    {
        if (settings.Lora.Enabled && settings.Source != "hf")
            throw new ConfigException($"pipeline.policy.lora.enabled = on needs pipeline.policy.source = hf (it is {settings.Source}): LoRA adapts a Hugging Face model's projections");
    }

    private protected static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>LoRA's settings change the state dict and what trains, so a resume must keep them; recorded only when on.</summary>
    private protected static Dictionary<string, string> LoraExtras(LoraSettings lora) => !lora.Enabled ? new() : new(StringComparer.Ordinal)
    {
        ["pipeline.policy.lora.enabled"] = "on",
        ["pipeline.policy.lora.rank"] = Text(lora.Rank),
        ["pipeline.policy.lora.alpha"] = lora.Alpha.ToString("R", CultureInfo.InvariantCulture),
        ["pipeline.policy.lora.target-modules"] = string.Join(",", lora.TargetModules),
    };

    private sealed record BuiltinPolicy(PolicyConfig Config, PolicySettings Settings) : PolicyFactory
    {
        public override string Source => "builtin";
        public override int VocabSize => Config.VocabSize;
        public override int ContextLength => Config.ContextLength;
        protected override PolicyNetwork CreateOnCpu(long seed) => new PolicyModel(Config, seed);
        protected override PolicyNetwork CreateShell() => new PolicyModel(Config, 0);

        // The configured values (vocab-size is the requested size, not the learned one), as checkpoints always recorded them.
        public override Dictionary<string, string> CheckpointExtras() => new(StringComparer.Ordinal)
        {
            ["pipeline.policy.source"] = Source,
            ["pipeline.policy.vocab-size"] = Text(Settings.VocabSize),
            ["pipeline.policy.d-model"] = Text(Settings.DModel),
            ["pipeline.policy.layers"] = Text(Settings.Layers),
            ["pipeline.policy.heads"] = Text(Settings.Heads),
            ["pipeline.policy.context"] = Text(Settings.Context),
            ["pipeline.policy.positions"] = Settings.Positions,
        };

        public override string Describe()
            => $"built-in policy: d-model {Config.DModel}, layers {Config.Layers}, heads {Config.Heads}, context {Config.ContextLength} ({Config.Positions.ToString().ToLowerInvariant()} positions), vocabulary {Config.VocabSize}";
    }

    private sealed record HfPolicy(string Folder, LlamaConfig Config, int Context, LoraSettings Lora) : PolicyFactory
    {
        public static HfPolicy Open(PolicySettings settings, IPolicyTokenizer tokenizer)
        {
            var config = LlamaConfig.Load(settings.Path);
            if (tokenizer.VocabSize > config.VocabSize)
                throw new ConfigException($"{Path.Combine(settings.Path, HfTokenizer.FileName)} has {tokenizer.VocabSize} tokens, more than config.json's vocab_size {config.VocabSize}");
            if (settings.Lora.Enabled) LoraAdapterConfig.From(settings.Lora); // refuses a malformed target list before any model is built
            return new HfPolicy(Path.GetFullPath(settings.Path), config, Math.Min(settings.Context, config.MaxPositionEmbeddings), settings.Lora);
        }

        public override string Source => "hf";
        public override int VocabSize => Config.VocabSize;
        public override int ContextLength => Context;
        /// <summary>The folder's weights; with LoRA on, adapters attached (A drawn from <paramref name="seed"/>, B zeros) and the base frozen.</summary>
        protected override PolicyNetwork CreateOnCpu(long seed) => WithAdapters(LlamaForCausalLM.FromPretrained(Folder, Context), seed);
        protected override PolicyNetwork CreateShell() => WithAdapters(new LlamaForCausalLM(Config, Context), 0);

        private PolicyNetwork WithAdapters(LlamaForCausalLM model, long seed)
        {
            if (!Lora.Enabled) return model;
            try
            {
                LoraAdapters.Attach(model, LoraAdapterConfig.From(Lora), seed);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            return model;
        }

        public override Checkpoints.AdapterCheckpoint? AdapterCheckpoint()
            => Lora.Enabled ? new Checkpoints.AdapterCheckpoint(LoraAdapterConfig.From(Lora), Folder) : null;

        public override Dictionary<string, string> CheckpointExtras() => new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["pipeline.policy.source"] = Source,
            ["pipeline.policy.context"] = Text(Context),
            ["pipeline.policy.hf.vocab_size"] = Text(Config.VocabSize),
            ["pipeline.policy.hf.hidden_size"] = Text(Config.HiddenSize),
            ["pipeline.policy.hf.num_hidden_layers"] = Text(Config.NumHiddenLayers),
            ["pipeline.policy.hf.num_attention_heads"] = Text(Config.NumAttentionHeads),
            ["pipeline.policy.hf.num_key_value_heads"] = Text(Config.NumKeyValueHeads),
        }.Concat(LoraExtras(Lora)).ToDictionary(StringComparer.Ordinal);

        public override string Describe()
            => $"Hugging Face policy {Folder}: hidden {Config.HiddenSize}, layers {Config.NumHiddenLayers}, heads {Config.NumAttentionHeads}/{Config.NumKeyValueHeads}, context {Context}, vocabulary {Config.VocabSize}"
               + (Lora.Enabled ? $", LoRA r {Lora.Rank} alpha {Lora.Alpha.ToString(CultureInfo.InvariantCulture)} on {string.Join(", ", Lora.TargetModules)}" : "");
    }
}
