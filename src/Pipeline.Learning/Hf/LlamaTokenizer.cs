using System.Text;
using System.Text.Json;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf;

/// <summary>
/// A Llama-2-style <c>tokenizer.json</c>: BPE with byte fallback over sentencepiece's <c>▁</c> metaspace. Reads the
/// subset such files use (normalizer Prepend/Replace or a Metaspace pre-tokenizer; decoder Replace, ByteFallback, Fuse,
/// Strip or Metaspace) and refuses any other component, naming the field. Byte-level BPE (GPT-2, Llama 3) is not read yet.
/// </summary>
public sealed class LlamaTokenizer
{
    public const string FileName = "tokenizer.json";
    private const string Metaspace = "\u2581";

    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _pieces;
    private readonly Dictionary<(int, int), (int Rank, int Merged)> _merges;
    private readonly HashSet<int> _special;
    private readonly List<Func<string, string>> _normalize = [];
    private readonly List<Func<List<string>, List<string>>> _decode = [];
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int? _unk;

    private LlamaTokenizer(Dictionary<string, int> vocab, Dictionary<(int, int), (int, int)> merges, HashSet<int> special, bool byteFallback, bool ignoreMerges, int? unk)
    {
        _vocab = vocab;
        _pieces = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (piece, id) in vocab) _pieces[id] = piece;
        _merges = merges;
        _special = special;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        _unk = unk;
    }

    public int VocabSize => _pieces.Length;

    /// <summary>The piece of <paramref name="id"/> as stored (with <c>▁</c> for spaces).</summary>
    public string Piece(int id) => _pieces[id];

    public static LlamaTokenizer Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) throw new ConfigException($"model folder {folder} has no {FileName}");
        using var doc = JsonFields.Parse(path);
        var root = JsonFields.Root(doc, path);
        var model = root.OptObject("model") ?? throw root.Error("model", "is missing");
        var type = model.OptString("type") ?? "BPE";
        if (type != "BPE") throw model.Error("type", $"is '{type}'; only BPE tokenizers are read");
        if (model.Get("vocab") is not { ValueKind: JsonValueKind.Object } vocabEl) throw model.Error("vocab", "is missing or not an object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabEl.EnumerateObject())
        {
            if (!p.Value.TryGetInt32(out var id) || id < 0) throw model.Error($"vocab.{p.Name}", $"must be a non-negative id, got {p.Value.GetRawText()}");
            vocab[p.Name] = id;
        }
        var special = new HashSet<int>();
        if (root.Get("added_tokens") is { ValueKind: JsonValueKind.Array } added)
        {
            foreach (var t in added.EnumerateArray())
            {
                var content = t.GetProperty("content").GetString()!;
                var id = t.GetProperty("id").GetInt32();
                vocab.TryAdd(content, id);
                if (t.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True) special.Add(id);
            }
        }

        var merges = new Dictionary<(int, int), (int, int)>();
        if (model.Get("merges") is { ValueKind: JsonValueKind.Array } mergesEl)
        {
            var rank = 0;
            foreach (var m in mergesEl.EnumerateArray())
            {
                // Older files write "a b", newer ones ["a", "b"] (which allows spaces inside pieces).
                string[] parts = m.ValueKind == JsonValueKind.Array
                    ? m.EnumerateArray().Select(x => x.GetString() ?? "").ToArray()
                    : (m.GetString() ?? "").Split(' ');
                if (parts.Length != 2 || !vocab.TryGetValue(parts[0], out var a) || !vocab.TryGetValue(parts[1], out var b)
                    || !vocab.TryGetValue(parts[0] + parts[1], out var merged))
                    throw model.Error($"merges[{rank}]", $"({m.GetRawText()}) is not two vocabulary pieces whose join is in the vocabulary");
                merges.TryAdd((a, b), (rank, merged));
                rank++;
            }
        }
        var unkName = model.OptString("unk_token");
        int? unk = unkName is not null && vocab.TryGetValue(unkName, out var u) ? u : null;
        var tokenizer = new LlamaTokenizer(vocab, merges, special, model.OptBool("byte_fallback") ?? false, model.OptBool("ignore_merges") ?? false, unk);
        tokenizer.ReadNormalizer(root);
        tokenizer.ReadDecoder(root);
        return tokenizer;
    }

    private void ReadNormalizer(JsonFields root)
    {
        foreach (var step in Steps(root.OptObject("normalizer"), "normalizers"))
        {
            var type = step.OptString("type");
            switch (type)
            {
                case "Prepend":
                    var prefix = step.OptString("prepend") ?? throw step.Error("prepend", "is missing");
                    _normalize.Add(s => s.Length == 0 ? s : prefix + s);
                    break;
                case "Replace":
                    var (from, to) = ReplaceArgs(step);
                    _normalize.Add(s => s.Replace(from, to, StringComparison.Ordinal));
                    break;
                default:
                    throw step.Error("type", $"is '{type}', a normalizer this tokenizer does not apply (supported: Sequence, Prepend, Replace)");
            }
        }
        if (root.OptObject("pre_tokenizer") is not { } pre) return;
        var preType = pre.OptString("type");
        if (preType != "Metaspace") throw pre.Error("type", $"is '{preType}', a pre-tokenizer this tokenizer does not apply (supported: Metaspace)");
        if (pre.OptBool("split") == true) throw pre.Error("split", "is true; only an unsplit Metaspace (split: false, as Llama 2) is read");
        var replacement = pre.OptString("replacement") ?? Metaspace;
        var scheme = pre.OptString("prepend_scheme") ?? ((pre.OptBool("add_prefix_space") ?? true) ? "always" : "never");
        _normalize.Add(s => s.Replace(" ", replacement, StringComparison.Ordinal));
        if (scheme is "always" or "first") _normalize.Add(s => s.Length == 0 || s.StartsWith(replacement, StringComparison.Ordinal) ? s : replacement + s);
        else if (scheme != "never") throw pre.Error("prepend_scheme", $"is '{scheme}' (supported: always, first, never)");
    }

    private void ReadDecoder(JsonFields root)
    {
        foreach (var step in Steps(root.OptObject("decoder"), "decoders"))
        {
            var type = step.OptString("type");
            switch (type)
            {
                case "Replace":
                    var (from, to) = ReplaceArgs(step);
                    _decode.Add(pieces => pieces.Select(p => p.Replace(from, to, StringComparison.Ordinal)).ToList());
                    break;
                case "ByteFallback":
                    _decode.Add(ByteFallback);
                    break;
                case "Fuse":
                    _decode.Add(pieces => [string.Concat(pieces)]);
                    break;
                case "Strip":
                    var content = step.OptString("content") ?? " ";
                    var start = step.OptInt("start") ?? 0;
                    var stop = step.OptInt("stop") ?? 0;
                    _decode.Add(pieces => pieces.Select(p => Strip(p, content, start, stop)).ToList());
                    break;
                case "Metaspace":
                    var replacement = step.OptString("replacement") ?? Metaspace;
                    var scheme = step.OptString("prepend_scheme") ?? "always";
                    _decode.Add(pieces => pieces.Select((p, i) =>
                    {
                        var text = p.Replace(replacement, " ", StringComparison.Ordinal);
                        return i == 0 && scheme != "never" && text.StartsWith(' ') ? text[1..] : text;
                    }).ToList());
                    break;
                default:
                    throw step.Error("type", $"is '{type}', a decoder this tokenizer does not apply (supported: Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace)");
            }
        }
    }

    /// <summary>A component, or the items of a Sequence component, in order.</summary>
    private static IEnumerable<JsonFields> Steps(JsonFields? component, string listField)
    {
        if (component is null) yield break;
        if (component.OptString("type") != "Sequence")
        {
            yield return component;
            yield break;
        }
        if (component.Get(listField) is not { ValueKind: JsonValueKind.Array } list) throw component.Error(listField, "is missing");
        var i = 0;
        foreach (var item in list.EnumerateArray()) yield return new JsonFields(item, component.File, component.Name($"{listField}[{i++}]."));
    }

    private static (string From, string To) ReplaceArgs(JsonFields step)
    {
        var pattern = step.OptObject("pattern") ?? throw step.Error("pattern", "is missing");
        var from = pattern.OptString("String") ?? throw pattern.Error("String", "is missing (regex patterns are not supported)");
        return (from, step.OptString("content") ?? "");
    }

    private static string Strip(string s, string content, int start, int stop)
    {
        var begin = 0;
        for (var n = 0; n < start && s.AsSpan(begin).StartsWith(content, StringComparison.Ordinal); n++) begin += content.Length;
        var end = s.Length;
        for (var n = 0; n < stop && end - content.Length >= begin && s.AsSpan(begin, end - begin).EndsWith(content, StringComparison.Ordinal); n++) end -= content.Length;
        return s[begin..end];
    }

    /// <summary>Runs of &lt;0xXX&gt; pieces become the UTF-8 text they spell (invalid bytes: U+FFFD each, as HF).</summary>
    private static List<string> ByteFallback(List<string> pieces)
    {
        var result = new List<string>();
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            var array = bytes.ToArray();
            try
            {
                result.Add(new UTF8Encoding(false, true).GetString(array));
            }
            catch (DecoderFallbackException)
            {
                result.AddRange(array.Select(_ => "\uFFFD"));
            }
            bytes.Clear();
        }
        foreach (var p in pieces)
        {
            if (ByteOf(p) is { } b)
            {
                bytes.Add(b);
                continue;
            }
            Flush();
            result.Add(p);
        }
        Flush();
        return result;
    }

    private static byte? ByteOf(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
        && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b) ? b : null;

    /// <summary>Token ids of <paramref name="text"/> (no BOS; the caller adds the model's bos_token_id).</summary>
    public List<int> Encode(string text)
    {
        foreach (var step in _normalize) text = step(text);
        if (text.Length == 0) return [];
        if (_ignoreMerges && _vocab.TryGetValue(text, out var whole)) return [whole];
        var symbols = new List<int>();
        foreach (var rune in text.EnumerateRunes())
        {
            var s = rune.ToString();
            if (_vocab.TryGetValue(s, out var id))
            {
                symbols.Add(id);
                continue;
            }
            var utf8 = Encoding.UTF8.GetBytes(s);
            var byteIds = utf8.Select(b => _vocab.TryGetValue($"<0x{b:X2}>", out var bid) ? bid : -1).ToList();
            if (_byteFallback && byteIds.All(b => b >= 0)) symbols.AddRange(byteIds);
            else symbols.Add(_unk ?? throw new ConfigException($"tokenizer: '{s}' is not in the vocabulary and there is no byte fallback or unk_token"));
        }
        // Merge the best-ranked adjacent pair until none is left (prompts are short: quadratic is fine).
        while (true)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            var merged = 0;
            for (var i = 0; i + 1 < symbols.Count; i++)
            {
                if (_merges.TryGetValue((symbols[i], symbols[i + 1]), out var m) && m.Rank < bestRank)
                {
                    best = i;
                    bestRank = m.Rank;
                    merged = m.Merged;
                }
            }
            if (best < 0) return symbols;
            symbols[best] = merged;
            symbols.RemoveAt(best + 1);
        }
    }

    /// <summary>Text of <paramref name="ids"/>, special tokens skipped, through the file's decoder.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var pieces = ids.Where(id => !_special.Contains(id)).Select(id => id >= 0 && id < _pieces.Length && _pieces[id] is { } p ? p : "\uFFFD").ToList();
        foreach (var step in _decode) pieces = step(pieces);
        return string.Concat(pieces);
    }
}
