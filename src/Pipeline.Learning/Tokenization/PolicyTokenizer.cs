using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Pipeline.Learning.Tokenization;

/// <summary>
/// Compact BPE tokenizer for the policy model: merges are learned deterministically from the task corpus,
/// encoding/decoding is done by <see cref="BpeTokenizer"/> from Microsoft.ML.Tokenizers.
/// </summary>
/// <remarks>
/// Pre-tokenization: runs of letters (plus combining marks) form words; every digit and every other character,
/// including each single space, is its own pre-token. BPE merges only happen inside a word, so an entity
/// like <c>Lyon</c> has the same ids in <c>"in Lyon?"</c> and in <c>"'Lyon'"</c>.
/// Special tokens have fixed ids: &lt;pad&gt;=0, &lt;bos&gt;=1, &lt;eos&gt;=2, &lt;sep&gt;=3, &lt;unk&gt;=4.
/// Characters outside the trained alphabet encode to &lt;unk&gt;.
/// Persisted as the standard <c>vocab.json</c> + <c>merges.txt</c> pair.
/// </remarks>
public sealed class PolicyTokenizer : IPolicyTokenizer
{
    public const string PadToken = "<pad>";
    public const string BosToken = "<bos>";
    public const string EosToken = "<eos>";
    public const string SepToken = "<sep>";
    public const string UnkToken = "<unk>";

    public const string VocabFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";

    private static readonly string[] Specials = [PadToken, BosToken, EosToken, SepToken, UnkToken];

    /// <summary>Runs of letters/marks, or any single UTF-16 char (digits and spaces included, one each, so numbers copy digit by digit).</summary>
    private static readonly Regex PreTokenRegex =
        new(@"[\p{L}\p{M}]+|[\s\S]", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private readonly BpeTokenizer _bpe;
    private readonly IReadOnlyList<KeyValuePair<string, int>> _vocab; // ordered by id
    private readonly IReadOnlyList<(string Left, string Right)> _merges; // ordered by rank

    public int Pad => 0;
    public int Bos => 1;
    public int Eos => 2;
    public int Sep => 3;
    public int Unk => 4;

    public IReadOnlyList<int> StopTokens => [Eos];

    /// <summary>Number of ids (specials included); ids are 0..VocabSize-1.</summary>
    public int VocabSize => _vocab.Count;

    private PolicyTokenizer(IReadOnlyList<KeyValuePair<string, int>> vocab, IReadOnlyList<(string, string)> merges)
    {
        _vocab = vocab;
        _merges = merges;
        for (int i = 0; i < Specials.Length; i++)
            if (vocab.Count <= i || vocab[i].Key != Specials[i] || vocab[i].Value != i)
                throw new InvalidDataException($"Vocabulary must start with the special tokens; id {i} must be '{Specials[i]}'.");
        for (int i = 0; i < vocab.Count; i++)
            if (vocab[i].Value != i)
                throw new InvalidDataException($"Vocabulary ids must be dense 0..{vocab.Count - 1}; '{vocab[i].Key}' has id {vocab[i].Value}.");

        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Specials.Length; i++) specials[Specials[i]] = i;

        _bpe = BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges.Select(m => m.Item1 + " " + m.Item2).ToList(),
            SpecialTokens = specials,
            UnknownToken = UnkToken,
            FuseUnknownTokens = false,
            // No special tokens here: literal "<eos>" in user text stays plain text.
            PreTokenizer = new RegexPreTokenizer(PreTokenRegex, null),
        });
    }

    /// <summary>
    /// Learns BPE merges from <paramref name="corpus"/>. Deterministic: the same corpus (in any order) and
    /// size give the same vocabulary. The base alphabet is every char of the corpus, so the result can exceed
    /// <paramref name="vocabSize"/> when the alphabet alone is larger.
    /// </summary>
    /// <param name="alphabetCorpus">Extra texts whose characters join the base alphabet without influencing merges
    /// (e.g. held-out text: no &lt;unk&gt;, but no whole-word tokens the model never trained on).</param>
    public static PolicyTokenizer Train(IEnumerable<string> corpus, int vocabSize, IEnumerable<string>? alphabetCorpus = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        var alphabet = new SortedSet<char>(Comparer<char>.Create((a, b) => a.CompareTo(b)));
        foreach (var text in alphabetCorpus ?? [])
            foreach (var c in text) alphabet.Add(c);
        var wordFreq = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in corpus)
        {
            if (string.IsNullOrEmpty(text)) continue;
            foreach (var c in text) alphabet.Add(c);
            // Same split as PreTokenRegex; only words of 2+ chars matter (single chars never merge).
            var lookup = wordFreq.GetAlternateLookup<ReadOnlySpan<char>>();
            for (int i = 0; i < text.Length;)
            {
                int j = i;
                while (j < text.Length && IsWordChar(text[j])) j++;
                if (j - i >= 2)
                {
                    var span = text.AsSpan(i, j - i);
                    lookup[span] = lookup.TryGetValue(span, out var f) ? f + 1 : 1;
                }
                i = j > i ? j : i + 1;
            }
        }

        var vocab = new List<KeyValuePair<string, int>>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        void Add(string token)
        {
            if (known.Add(token)) vocab.Add(new(token, vocab.Count));
        }
        foreach (var s in Specials) Add(s);
        foreach (var c in alphabet) Add(c.ToString());

        // Symbols are ids into `vocab`; words are symbol lists (ordinal order, so every step is deterministic).
        var symbolId = vocab.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var words = wordFreq.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Symbols: kv.Key.Select(c => symbolId[c.ToString()]).ToList(), Freq: kv.Value))
            .ToList();

        // Pair counts are maintained incrementally; pairWords remembers which words may contain a pair.
        var pairCounts = new Dictionary<(int L, int R), long>();
        var pairWords = new Dictionary<(int L, int R), HashSet<int>>();
        // Priority order: highest count first, ties broken ordinally by (left, right) token strings.
        var queue = new SortedSet<(long Count, int L, int R)>(Comparer<(long Count, int L, int R)>.Create((a, b) =>
        {
            int c = b.Count.CompareTo(a.Count);
            if (c != 0) return c;
            c = string.CompareOrdinal(vocab[a.L].Key, vocab[b.L].Key);
            return c != 0 ? c : string.CompareOrdinal(vocab[a.R].Key, vocab[b.R].Key);
        }));
        var delta = new Dictionary<(int L, int R), long>();
        void Count(int w, long sign)
        {
            var (symbols, freq) = words[w];
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                var p = (symbols[i], symbols[i + 1]);
                delta[p] = delta.GetValueOrDefault(p) + sign * freq;
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(p, out var set)) pairWords[p] = set = new HashSet<int>();
                    set.Add(w);
                }
            }
        }
        void ApplyDelta()
        {
            foreach (var (p, d) in delta)
            {
                if (d == 0) continue;
                var before = pairCounts.GetValueOrDefault(p);
                var after = before + d;
                if (before > 0) queue.Remove((before, p.L, p.R));
                if (after > 0)
                {
                    pairCounts[p] = after;
                    queue.Add((after, p.L, p.R));
                }
                else pairCounts.Remove(p);
            }
            delta.Clear();
        }
        for (int w = 0; w < words.Count; w++) Count(w, +1);
        ApplyDelta();

        var merges = new List<(string, string)>();
        while (vocab.Count < vocabSize)
        {
            if (queue.Count == 0) break;
            var top = queue.Min;
            (int L, int R) best = (top.L, top.R);
            long bestCount = top.Count;
            if (bestCount < 2) break; // nothing worth merging
            if (!pairWords.TryGetValue(best, out var candidates))
            {
                queue.Remove(top); // defensive: a counted pair always has candidate words
                continue;
            }

            var left = vocab[best.L].Key;
            var right = vocab[best.R].Key;
            merges.Add((left, right));
            var merged = left + right;
            Add(merged);
            int mergedId = symbolId.TryGetValue(merged, out var existing) ? existing : (symbolId[merged] = vocab.Count - 1);

            foreach (var w in candidates.Order().ToList())
            {
                var symbols = words[w].Symbols;
                bool hit = false;
                for (int i = 0; i + 1 < symbols.Count && !hit; i++)
                    hit = symbols[i] == best.L && symbols[i + 1] == best.R;
                if (!hit) continue;
                Count(w, -1);
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == best.L && symbols[i + 1] == best.R)
                    {
                        symbols[i] = mergedId;
                        symbols.RemoveAt(i + 1);
                    }
                }
                Count(w, +1);
            }
            ApplyDelta();
            pairWords.Remove(best);
        }
        return new PolicyTokenizer(vocab, merges);
    }

    /// <summary>Matches <c>[\p{L}\p{M}]</c> of <see cref="PreTokenRegex"/> (per UTF-16 char, like .NET Regex).</summary>
    private static bool IsWordChar(char c) => char.GetUnicodeCategory(c) switch
    {
        System.Globalization.UnicodeCategory.UppercaseLetter or System.Globalization.UnicodeCategory.LowercaseLetter
            or System.Globalization.UnicodeCategory.TitlecaseLetter or System.Globalization.UnicodeCategory.ModifierLetter
            or System.Globalization.UnicodeCategory.OtherLetter or System.Globalization.UnicodeCategory.NonSpacingMark
            or System.Globalization.UnicodeCategory.SpacingCombiningMark or System.Globalization.UnicodeCategory.EnclosingMark => true,
        _ => false,
    };

    /// <summary>Token ids of <paramref name="text"/>, without special tokens.</summary>
    public int[] Encode(string text)
    {
        if (string.IsNullOrEmpty(text)) return [];
        return _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false).ToArray();
    }

    /// <summary>[bos, ..Encode(promptText).., sep].</summary>
    public int[] EncodePrompt(string promptText)
    {
        var body = Encode(promptText);
        var ids = new int[body.Length + 2];
        ids[0] = Bos;
        body.CopyTo(ids, 1);
        ids[^1] = Sep;
        return ids;
    }

    /// <summary>Text of <paramref name="ids"/>; special tokens (and &lt;unk&gt;) and out-of-range ids are skipped.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder(ids.Length * 3);
        foreach (var id in ids)
        {
            if (id < Specials.Length || id >= _vocab.Count) continue;
            sb.Append(_vocab[id].Key);
        }
        return sb.ToString();
    }

    /// <summary>Token string of an id (specials included), for debugging.</summary>
    public string IdToToken(int id) => id >= 0 && id < _vocab.Count ? _vocab[id].Key : UnkToken;

    /// <summary>Writes <c>vocab.json</c> and <c>merges.txt</c> into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var utf8 = new UTF8Encoding(false);
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions
               {
                   Indented = true,
                   Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
               }))
        {
            w.WriteStartObject();
            foreach (var (token, id) in _vocab) w.WriteNumber(token, id);
            w.WriteEndObject();
        }
        WriteAtomic(Path.Combine(directory, VocabFileName), ms.ToArray());

        var sb = new StringBuilder("#version: 0.2\n");
        foreach (var (l, r) in _merges) sb.Append(l).Append(' ').Append(r).Append('\n');
        WriteAtomic(Path.Combine(directory, MergesFileName), utf8.GetBytes(sb.ToString()));
    }

    /// <summary>Loads a tokenizer written by <see cref="Save"/>.</summary>
    public static PolicyTokenizer Load(string directory)
    {
        var vocabPath = Path.Combine(directory, VocabFileName);
        var mergesPath = Path.Combine(directory, MergesFileName);
        if (!File.Exists(vocabPath) || !File.Exists(mergesPath))
            throw new FileNotFoundException($"Tokenizer files {VocabFileName}/{MergesFileName} not found in '{directory}'.");

        var map = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabPath))
                  ?? throw new InvalidDataException($"Empty vocabulary in '{vocabPath}'.");
        var vocab = map.OrderBy(kv => kv.Value).ToList();

        var merges = new List<(string, string)>();
        foreach (var line in File.ReadAllText(mergesPath, Encoding.UTF8).Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal)) continue;
            int sp = line.IndexOf(' ');
            if (sp <= 0 || sp == line.Length - 1)
                throw new InvalidDataException($"Bad merge line '{line}' in '{mergesPath}'.");
            merges.Add((line[..sp], line[(sp + 1)..]));
        }
        return new PolicyTokenizer(vocab, merges);
    }

    private static void WriteAtomic(string path, byte[] bytes)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
