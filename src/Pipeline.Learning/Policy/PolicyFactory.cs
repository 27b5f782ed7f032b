using System.Globalization;
using Pipeline.Core.Configuration;
using TorchSharp;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Hf;
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

    /// <summary>A new policy on <see cref="Device"/>: the built-in one initialised from <paramref name="seed"/>, an hf one with the folder's weights.</summary>
    public PolicyNetwork Create(long seed)
    {
        var model = CreateOnCpu(seed);
        var device = TorchRuntime.ResolveDevice(Device);
        if (device.type != TorchSharp.DeviceType.CPU) model.to(device);
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

    /// <summary>One line for errors and logs.</summary>
    public abstract string Describe();

    /// <summary>The policy of <paramref name="settings"/> on <paramref name="device"/> (<c>pipeline.device</c>).</summary>
    public static PolicyFactory From(PolicySettings settings, IPolicyTokenizer tokenizer, string device)
        => From(settings, tokenizer) with { Device = device };

    public static PolicyFactory From(PolicySettings settings, IPolicyTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return settings.Source switch
        {
            "builtin" => Builtin(settings, tokenizer.VocabSize),
            "hf" => HfPolicy.Open(settings, tokenizer),
            _ => throw new ConfigException($"pipeline.policy.source is '{settings.Source}'; expected builtin | hf"),
        };
    }

    /// <summary>The built-in policy of <paramref name="settings"/>' shape over <paramref name="vocabularySize"/> ids.</summary>
    public static PolicyFactory Builtin(PolicySettings settings, int vocabularySize)
        => new BuiltinPolicy(new PolicyConfig(vocabularySize, settings.DModel, settings.Layers, settings.Heads, settings.Context), settings);

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
        if (settings.Source != "hf") return;
        var config = LlamaConfig.Load(settings.Path);
        HfCheckpoint.Open(settings.Path);
        HfPolicyTokenizer.Load(settings.Path, config, settings.ChatTemplate);
    }

    private protected static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

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
        };

        public override string Describe()
            => $"built-in policy: d-model {Config.DModel}, layers {Config.Layers}, heads {Config.Heads}, context {Config.ContextLength}, vocabulary {Config.VocabSize}";
    }

    private sealed record HfPolicy(string Folder, LlamaConfig Config, int Context) : PolicyFactory
    {
        public static HfPolicy Open(PolicySettings settings, IPolicyTokenizer tokenizer)
        {
            var config = LlamaConfig.Load(settings.Path);
            if (tokenizer.VocabSize > config.VocabSize)
                throw new ConfigException($"{Path.Combine(settings.Path, HfTokenizer.FileName)} has {tokenizer.VocabSize} tokens, more than config.json's vocab_size {config.VocabSize}");
            return new HfPolicy(Path.GetFullPath(settings.Path), config, Math.Min(settings.Context, config.MaxPositionEmbeddings));
        }

        public override string Source => "hf";
        public override int VocabSize => Config.VocabSize;
        public override int ContextLength => Context;
        protected override PolicyNetwork CreateOnCpu(long seed) => LlamaForCausalLM.FromPretrained(Folder, Context);
        protected override PolicyNetwork CreateShell() => new LlamaForCausalLM(Config, Context);

        public override Dictionary<string, string> CheckpointExtras() => new(StringComparer.Ordinal)
        {
            ["pipeline.policy.source"] = Source,
            ["pipeline.policy.context"] = Text(Context),
            ["pipeline.policy.hf.vocab_size"] = Text(Config.VocabSize),
            ["pipeline.policy.hf.hidden_size"] = Text(Config.HiddenSize),
            ["pipeline.policy.hf.num_hidden_layers"] = Text(Config.NumHiddenLayers),
            ["pipeline.policy.hf.num_attention_heads"] = Text(Config.NumAttentionHeads),
            ["pipeline.policy.hf.num_key_value_heads"] = Text(Config.NumKeyValueHeads),
        };

        public override string Describe()
            => $"Hugging Face policy {Folder}: hidden {Config.HiddenSize}, layers {Config.NumHiddenLayers}, heads {Config.NumAttentionHeads}/{Config.NumKeyValueHeads}, context {Context}, vocabulary {Config.VocabSize}";
    }
}
