using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf;

/// <summary>
/// A model folder's <c>tokenizer.json</c> in the two BPE forms in use: byte fallback over sentencepiece's <c>▁</c>
/// metaspace (Llama 2, Mistral) and byte-level BPE (GPT-2, Llama 3, Qwen2/3). Added tokens written in the text are
/// matched first; each span between them goes through the normalizer (NFC, Prepend, Replace), the pre-tokenizer
/// (Metaspace, Split by regex, ByteLevel) and the BPE model; decoding runs the file's decoder. Any other component is
/// refused with a <see cref="ConfigException"/> naming the field. Special-token ids come from
/// <c>tokenizer_config.json</c> and <c>generation_config.json</c> (<see cref="SpecialIds"/>).
/// </summary>
public sealed class HfTokenizer
{
    public const string FileName = "tokenizer.json";
    private const string Metaspace = "\u2581";

    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _pieces;
    private readonly Dictionary<(int, int), (int Rank, int Merged)> _merges;
    private readonly HashSet<int> _special;
    private readonly List<Func<string, string>> _normalize = [];
    private readonly List<Func<List<string>, List<string>>> _preTokenize = [];
    private readonly List<Func<List<string>, List<string>>> _decode = [];
    private readonly List<AddedToken> _added = [];
    private readonly Dictionary<string, int[]> _wordCache = new(StringComparer.Ordinal);
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int? _unk;

    private HfTokenizer(Dictionary<string, int> vocab, Dictionary<(int, int), (int, int)> merges, HashSet<int> special, bool byteFallback, bool ignoreMerges, int? unk)
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

    /// <summary>bos/eos/pad ids from tokenizer_config.json, overridden by generation_config.json where it names them.</summary>
    public SpecialTokenIds SpecialIds { get; private set; } = new(null, [], null, false);

    /// <summary>The id of <paramref name="token"/> (a piece or an added token), or null.</summary>
    public int? IdOf(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    private sealed record AddedToken(string Content, int Id, bool LStrip, bool RStrip);

    /// <summary>The piece of <paramref name="id"/> as stored (with <c>▁</c> for spaces).</summary>
    public string Piece(int id) => _pieces[id];

    public static HfTokenizer Load(string folder)
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
        var addedTokens = new List<AddedToken>();
        if (root.Get("added_tokens") is { ValueKind: JsonValueKind.Array } added)
        {
            var i = 0;
            foreach (var t in added.EnumerateArray())
            {
                var token = new JsonFields(t, path, $"added_tokens[{i++}].");
                var content = token.OptString("content") ?? throw token.Error("content", "is missing");
                var id = token.OptInt("id") ?? throw token.Error("id", "is missing");
                if (content.Length == 0) throw token.Error("content", "is empty");
                if (token.OptBool("single_word") == true) throw token.Error("single_word", "is true; single-word added tokens are not matched");
                vocab.TryAdd(content, id);
                if (token.OptBool("special") == true) special.Add(id);
                // Matched on the raw text (not the normalized one): the forms read here normalize nothing an added token contains.
                addedTokens.Add(new AddedToken(content, id, token.OptBool("lstrip") == true, token.OptBool("rstrip") == true));
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
        if (model.OptString("continuing_subword_prefix") is { Length: > 0 } csp) throw model.Error("continuing_subword_prefix", $"is '{csp}'; only BPE without subword prefixes is read");
        if (model.OptString("end_of_word_suffix") is { Length: > 0 } eow) throw model.Error("end_of_word_suffix", $"is '{eow}'; only BPE without word suffixes is read");
        if (model.OptDouble("dropout") is { } dropout && dropout != 0) throw model.Error("dropout", $"is {dropout}; BPE dropout is for training, not for a model's tokenizer");
        var tokenizer = new HfTokenizer(vocab, merges, special, model.OptBool("byte_fallback") ?? false, model.OptBool("ignore_merges") ?? false, unk);
        // Longest first, so "<|im_start|>" wins over any shorter added token that is its prefix.
        tokenizer._added.AddRange(addedTokens.OrderByDescending(t => t.Content.Length));
        tokenizer.ReadNormalizer(root);
        tokenizer.ReadPreTokenizer(root);
        tokenizer.ReadDecoder(root);
        tokenizer.SpecialIds = SpecialTokenIds.Read(folder, tokenizer);
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
                case "NFC":
                    _normalize.Add(s => s.Normalize(NormalizationForm.FormC));
                    break;
                default:
                    throw step.Error("type", $"is '{type}', a normalizer this tokenizer does not apply (supported: Sequence, Prepend, Replace, NFC)");
            }
        }
    }

    private void ReadPreTokenizer(JsonFields root)
    {
        foreach (var step in Steps(root.OptObject("pre_tokenizer"), "pretokenizers"))
        {
            var type = step.OptString("type");
            switch (type)
            {
                case "Metaspace":
                    if (step.OptBool("split") == true) throw step.Error("split", "is true; only an unsplit Metaspace (split: false, as Llama 2) is read");
                    var replacement = step.OptString("replacement") ?? Metaspace;
                    var scheme = step.OptString("prepend_scheme") ?? ((step.OptBool("add_prefix_space") ?? true) ? "always" : "never");
                    if (scheme is not ("always" or "first" or "never")) throw step.Error("prepend_scheme", $"is '{scheme}' (supported: always, first, never)");
                    _preTokenize.Add(words => words.Select(w =>
                    {
                        w = w.Replace(" ", replacement, StringComparison.Ordinal);
                        return scheme != "never" && w.Length > 0 && !w.StartsWith(replacement, StringComparison.Ordinal) ? replacement + w : w;
                    }).ToList());
                    break;
                case "Split":
                    var regex = SplitRegex(step);
                    var behavior = step.OptString("behavior") ?? "Isolated";
                    if (behavior != "Isolated") throw step.Error("behavior", $"is '{behavior}' (supported: Isolated)");
                    if (step.OptBool("invert") == true) throw step.Error("invert", "is true (supported: false)");
                    _preTokenize.Add(words => words.SelectMany(w => Isolate(regex, w)).ToList());
                    break;
                case "ByteLevel":
                    var prefixSpace = step.OptBool("add_prefix_space") ?? true;
                    var gpt2 = (step.OptBool("use_regex") ?? true) ? Gpt2Split : null;
                    _preTokenize.Add(words => words
                        .Select(w => prefixSpace && w.Length > 0 && w[0] != ' ' ? " " + w : w)
                        .SelectMany(w => gpt2 is null ? [w] : Isolate(gpt2, w))
                        .Select(ByteLevel.Encode).ToList());
                    break;
                default:
                    throw step.Error("type", $"is '{type}', a pre-tokenizer this tokenizer does not apply (supported: Sequence, Metaspace, Split, ByteLevel)");
            }
        }
    }

    /// <summary>GPT-2's pre-tokenizer pattern, used by a ByteLevel pre-tokenizer with use_regex true.</summary>
    private static readonly Regex Gpt2Split = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);

    private static Regex SplitRegex(JsonFields step)
    {
        var pattern = step.OptObject("pattern") ?? throw step.Error("pattern", "is missing");
        if (pattern.OptString("String") is { } literal) return new Regex(Regex.Escape(literal), RegexOptions.Compiled);
        var source = pattern.OptString("Regex") ?? throw pattern.Error("Regex", "is missing (a pattern is a String or a Regex)");
        try
        {
            return new Regex(source, RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw pattern.Error("Regex", $"is not a pattern .NET reads ({e.Message})");
        }
    }

    /// <summary>Matches and the gaps between them, in order, none empty ("Isolated" in HF's Split).</summary>
    private static IEnumerable<string> Isolate(Regex regex, string text)
    {
        var at = 0;
        for (var m = regex.Match(text); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            if (m.Index > at) yield return text[at..m.Index];
            yield return m.Value;
            at = m.Index + m.Length;
        }
        if (at < text.Length) yield return text[at..];
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
                case "ByteLevel":
                    _decode.Add(pieces => [ByteLevel.Decode(pieces)]);
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
                    throw step.Error("type", $"is '{type}', a decoder this tokenizer does not apply (supported: Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel)");
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

    /// <summary>
    /// Token ids of <paramref name="text"/>, with added tokens written in it matched whole (no BOS is added; the caller
    /// adds <see cref="SpecialIds"/>' bos where the model wants one).
    /// </summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var (span, added) in SplitOnAddedTokens(text))
        {
            if (added is { } id) ids.Add(id);
            else EncodeSpan(span, ids);
        }
        return ids;
    }

    /// <summary>The text cut into plain spans and added tokens, leftmost match first, longest first at one position.</summary>
    private IEnumerable<(string Span, int? Added)> SplitOnAddedTokens(string text)
    {
        var at = 0;
        while (at < text.Length)
        {
            var (start, token) = NextAddedToken(text, at);
            if (token is null)
            {
                yield return (text[at..], null);
                yield break;
            }
            var begin = start;
            var end = start + token.Content.Length;
            if (token.LStrip) while (begin > at && char.IsWhiteSpace(text[begin - 1])) begin--;
            if (token.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (begin > at) yield return (text[at..begin], null);
            yield return ("", token.Id);
            at = end;
        }
    }

    private (int Start, AddedToken? Token) NextAddedToken(string text, int from)
    {
        var bestStart = int.MaxValue;
        AddedToken? best = null;
        foreach (var token in _added)
        {
            var i = text.IndexOf(token.Content, from, StringComparison.Ordinal);
            // _added is longest first, so a tie at the same start keeps the longer token.
            if (i >= 0 && i < bestStart)
            {
                bestStart = i;
                best = token;
            }
        }
        return (bestStart, best);
    }

    private void EncodeSpan(string text, List<int> ids)
    {
        foreach (var step in _normalize) text = step(text);
        if (text.Length == 0) return;
        var words = new List<string> { text };
        foreach (var step in _preTokenize) words = step(words);
        foreach (var word in words)
        {
            if (word.Length == 0) continue;
            if (!_wordCache.TryGetValue(word, out var wordIds))
            {
                wordIds = EncodeWord(word).ToArray();
                // Bounded: a long run of distinct words must not grow memory without limit.
                if (_wordCache.Count < 100_000) _wordCache[word] = wordIds;
            }
            ids.AddRange(wordIds);
        }
    }

    private List<int> EncodeWord(string text)
    {
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
        // Merge the best-ranked adjacent pair until none is left (words are short: quadratic is fine).
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

    /// <summary>Text of <paramref name="ids"/> through the file's decoder, special tokens skipped unless asked for.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        var pieces = ids.Where(id => !skipSpecialTokens || !_special.Contains(id)).Select(id => id >= 0 && id < _pieces.Length && _pieces[id] is { } p ? p : "\uFFFD").ToList();
        foreach (var step in _decode) pieces = step(pieces);
        return string.Concat(pieces);
    }
}
