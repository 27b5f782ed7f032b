using System.Text.Json;

namespace Pipeline.Learning.Hf;

/// <summary>
/// The model's bos, eos and pad ids, read as transformers does: token names from <c>tokenizer_config.json</c>
/// (a string or an object with <c>content</c>), looked up in the tokenizer, then <c>generation_config.json</c>'s
/// <c>bos_token_id</c>, <c>eos_token_id</c> (one id or a list) and <c>pad_token_id</c> win where it sets them.
/// </summary>
public sealed record SpecialTokenIds(int? Bos, IReadOnlyList<int> Eos, int? Pad, bool AddBos)
{
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string GenerationConfigFile = "generation_config.json";

    public static SpecialTokenIds Read(string folder, HfTokenizer tokenizer)
    {
        int? bos = null, pad = null;
        IReadOnlyList<int> eos = [];
        var addBos = false;
        var configPath = Path.Combine(folder, TokenizerConfigFile);
        if (File.Exists(configPath))
        {
            using var doc = JsonFields.Parse(configPath);
            var config = JsonFields.Root(doc, configPath);
            bos = TokenId(config, "bos_token", tokenizer);
            eos = TokenId(config, "eos_token", tokenizer) is { } e ? [e] : [];
            pad = TokenId(config, "pad_token", tokenizer);
            addBos = config.OptBool("add_bos_token") ?? false;
        }
        var generationPath = Path.Combine(folder, GenerationConfigFile);
        if (File.Exists(generationPath))
        {
            using var doc = JsonFields.Parse(generationPath);
            var generation = JsonFields.Root(doc, generationPath);
            bos = generation.OptInt("bos_token_id") ?? bos;
            if (generation.Has("eos_token_id")) eos = generation.IntOrIntList("eos_token_id");
            pad = generation.OptInt("pad_token_id") ?? pad;
        }
        return new SpecialTokenIds(bos, eos, pad, addBos);
    }

    private static int? TokenId(JsonFields config, string field, HfTokenizer tokenizer)
    {
        if (config.Get(field) is not { } v) return null;
        var name = v.ValueKind switch
        {
            JsonValueKind.String => v.GetString()!,
            JsonValueKind.Object => config.OptObject(field)!.OptString("content") ?? throw config.Error($"{field}.content", "is missing"),
            _ => throw config.Error(field, $"must be a token string or an object with 'content', got {v.GetRawText()}"),
        };
        return tokenizer.IdOf(name) ?? throw config.Error(field, $"is '{name}', which is not a token of {HfTokenizer.FileName}");
    }
}
