using Pipeline.Core.Configuration;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Learning.Hf;

/// <summary>
/// A Hugging Face model's own tokenizer as the policy's: <c>tokenizer.json</c> with the bos/eos ids of
/// <c>tokenizer_config.json</c>, <c>generation_config.json</c> and <c>config.json</c>. A prompt is BOS (where the model
/// adds one) and the prompt's text; sampling stops at any eos id.
/// </summary>
public sealed class HfPolicyTokenizer : IPolicyTokenizer
{
    /// <summary>The files a model folder's tokenizer consists of; those present are copied into a run's tokenizer folder.</summary>
    public static readonly string[] Files =
        [HfTokenizer.FileName, SpecialTokenIds.TokenizerConfigFile, SpecialTokenIds.GenerationConfigFile, "special_tokens_map.json", "chat_template.jinja"];

    private readonly HfTokenizer _inner;
    private readonly string _folder;
    private readonly int? _bos;

    private HfPolicyTokenizer(HfTokenizer inner, string folder, int? bos, IReadOnlyList<int> eos)
    {
        _inner = inner;
        _folder = folder;
        _bos = bos;
        StopTokens = eos;
    }

    /// <summary>Reads the tokenizer of <paramref name="folder"/>; <paramref name="config"/> supplies bos/eos ids the tokenizer files leave out.</summary>
    public static HfPolicyTokenizer Load(string folder, LlamaConfig? config = null)
    {
        var inner = HfTokenizer.Load(folder);
        var ids = inner.SpecialIds;
        var eos = ids.Eos.Count > 0 ? ids.Eos : config?.EosTokenIds ?? [];
        if (eos.Count == 0)
            throw new ConfigException($"model folder {folder} names no eos token (tokenizer_config.json eos_token, generation_config.json or config.json eos_token_id): sampling could never stop");
        var bos = ids.Bos ?? config?.BosTokenId;
        if (ids.AddBos && bos is null)
            throw new ConfigException($"{Path.Combine(folder, SpecialTokenIds.TokenizerConfigFile)}: add_bos_token is true but no bos token is named");
        return new HfPolicyTokenizer(inner, folder, ids.AddBos ? bos : null, eos);
    }

    /// <summary>The tokenizer.json tokenizer underneath.</summary>
    public HfTokenizer Inner => _inner;

    public int VocabSize => _inner.VocabSize;

    public int Eos => StopTokens[0];

    public IReadOnlyList<int> StopTokens { get; }

    public int[] Encode(string text) => string.IsNullOrEmpty(text) ? [] : [.. _inner.Encode(text)];

    public int[] EncodePrompt(string promptText)
    {
        var body = Encode(promptText);
        if (_bos is not { } bos) return body.Length > 0 ? body : throw new ArgumentException("an empty prompt gives no token to continue (the model adds no BOS)");
        return [bos, .. body];
    }

    public string Decode(ReadOnlySpan<int> ids) => _inner.Decode(ids.ToArray());

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var name in Files)
        {
            var from = Path.Combine(_folder, name);
            var to = Path.Combine(directory, name);
            if (!File.Exists(from) || Path.GetFullPath(from) == Path.GetFullPath(to)) continue;
            var tmp = to + ".tmp";
            File.Copy(from, tmp, overwrite: true);
            File.Move(tmp, to, overwrite: true);
        }
    }
}
