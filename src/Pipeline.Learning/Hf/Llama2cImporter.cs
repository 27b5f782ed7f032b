using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf;

/// <summary>
/// Turns a llama2.c checkpoint (legacy format: 7 int32 header, then float32 tensors) and its <c>tokenizer.bin</c> into a
/// Hugging Face Llama folder: <c>config.json</c>, <c>model.safetensors</c> (q/k rows permuted from llama2.c's interleaved
/// RoPE pairs to HF's rotate_half halves) and a Llama-2-style <c>tokenizer.json</c>.
/// </summary>
public static class Llama2cImporter
{
    private const string Metaspace = "\u2581";

    /// <summary>The llama2.c header (vocab_size is stored negative when the classifier is not shared).</summary>
    public sealed record Header(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int SeqLen, bool SharedClassifier);

    public static Header Import(string modelPath, string tokenizerPath, string outFolder)
    {
        var header = ReadModel(modelPath, out var tensors);
        var (pieces, scores) = ReadTokenizer(tokenizerPath, header.VocabSize);
        Directory.CreateDirectory(outFolder);
        SafetensorsWriter.Write(Path.Combine(outFolder, HfCheckpoint.SingleFile), tensors);
        File.WriteAllText(Path.Combine(outFolder, LlamaConfig.FileName), ConfigJson(header));
        File.WriteAllText(Path.Combine(outFolder, HfTokenizer.FileName), TokenizerJson(pieces, scores));
        File.WriteAllText(Path.Combine(outFolder, "tokenizer_config.json"), TokenizerConfigJson());
        return header;
    }

    private static Header ReadModel(string path, out List<SafetensorsWriter.Item> tensors)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: file not found");
        using var stream = File.OpenRead(path);
        if (stream.Length < 28) throw new ConfigException($"{path}: {stream.Length} bytes is too short for a llama2.c header (7 int32)");
        using var reader = new BinaryReader(stream);
        var h = Enumerable.Range(0, 7).Select(_ => reader.ReadInt32()).ToArray();
        var header = new Header(h[0], h[1], h[2], h[3], h[4], Math.Abs(h[5]), h[6], h[5] > 0);
        string[] names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
        for (var i = 0; i < 7; i++)
            if (h[i] == 0 || (i != 5 && h[i] < 0) || Math.Abs((long)h[i]) > 1 << 24) throw new ConfigException($"{path}: header field {names[i]} is {h[i]}; is this a llama2.c legacy checkpoint?");
        if (header.Dim % header.Heads != 0 || header.Heads % header.KvHeads != 0 || header.Dim / header.Heads % 2 != 0)
            throw new ConfigException($"{path}: dim {header.Dim}, n_heads {header.Heads}, n_kv_heads {header.KvHeads} do not make whole, even heads");

        long dim = header.Dim, hidden = header.HiddenDim, layers = header.Layers, vocab = header.VocabSize;
        long headSize = dim / header.Heads, kvDim = headSize * header.KvHeads;
        var floats = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hidden) + dim + header.SeqLen * headSize
                     + (header.SharedClassifier ? 0 : vocab * dim);
        if (stream.Length != 28 + 4 * floats)
            throw new ConfigException($"{path}: {stream.Length} bytes, but the header ({string.Join(", ", names.Zip(h, (n, v) => $"{n} {v}"))}) needs {28 + 4 * floats}");

        float[] Read(long count)
        {
            var bytes = reader.ReadBytes(checked((int)(count * 4)));
            var values = new float[count];
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            return values;
        }
        float[][] PerLayer(long size) => Enumerable.Range(0, (int)layers).Select(_ => Read(size)).ToArray();

        var embedding = Read(vocab * dim);
        var rmsAtt = PerLayer(dim);
        var wq = PerLayer(dim * dim);
        var wk = PerLayer(kvDim * dim);
        var wv = PerLayer(kvDim * dim);
        var wo = PerLayer(dim * dim);
        var rmsFfn = PerLayer(dim);
        var w1 = PerLayer(hidden * dim);
        var w2 = PerLayer(dim * hidden);
        var w3 = PerLayer(hidden * dim);
        var rmsFinal = Read(dim);
        Read(header.SeqLen * headSize); // legacy freq_cis_real and freq_cis_imag: RoPE is recomputed from rope_theta
        var classifier = header.SharedClassifier ? null : Read(vocab * dim);

        tensors = [new("model.embed_tokens.weight", [vocab, dim], embedding)];
        for (var l = 0; l < layers; l++)
        {
            var p = $"model.layers.{l}.";
            tensors.Add(new(p + "input_layernorm.weight", [dim], rmsAtt[l]));
            tensors.Add(new(p + "self_attn.q_proj.weight", [dim, dim], ToRotateHalf(wq[l], header.Heads, (int)headSize, dim)));
            tensors.Add(new(p + "self_attn.k_proj.weight", [kvDim, dim], ToRotateHalf(wk[l], header.KvHeads, (int)headSize, dim)));
            tensors.Add(new(p + "self_attn.v_proj.weight", [kvDim, dim], wv[l]));
            tensors.Add(new(p + "self_attn.o_proj.weight", [dim, dim], wo[l]));
            tensors.Add(new(p + "post_attention_layernorm.weight", [dim], rmsFfn[l]));
            tensors.Add(new(p + "mlp.gate_proj.weight", [hidden, dim], w1[l]));
            tensors.Add(new(p + "mlp.down_proj.weight", [dim, hidden], w2[l]));
            tensors.Add(new(p + "mlp.up_proj.weight", [hidden, dim], w3[l]));
        }
        tensors.Add(new("model.norm.weight", [dim], rmsFinal));
        if (classifier is not null) tensors.Add(new("lm_head.weight", [vocab, dim], classifier));
        return header;
    }

    /// <summary>
    /// llama2.c rotates pairs (2i, 2i+1) of each head; HF rotates (i, i + head/2). Row 2i of a head becomes row i and row
    /// 2i+1 becomes row head/2 + i (transformers' convert_llama_weights_to_hf permute).
    /// </summary>
    public static float[] ToRotateHalf(float[] rows, int heads, int headSize, long columns)
    {
        var result = new float[rows.Length];
        var half = headSize / 2;
        for (var h = 0; h < heads; h++)
            for (var i = 0; i < half; i++)
                for (var pair = 0; pair < 2; pair++)
                    Array.Copy(rows, (h * headSize + 2 * i + pair) * columns, result, (h * headSize + pair * half + i) * columns, columns);
        return result;
    }

    private static (string[] Pieces, float[] Scores) ReadTokenizer(string path, int vocabSize)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: file not found");
        var data = File.ReadAllBytes(path);
        var offset = 0;
        int ReadInt()
        {
            if (offset + 4 > data.Length) throw new ConfigException($"{path}: ends after {data.Length} bytes, inside the {vocabSize} entries the model's vocab_size needs");
            var v = BitConverter.ToInt32(data, offset);
            offset += 4;
            return v;
        }
        ReadInt(); // max_token_length: only llama2.c's own buffer needs it
        var pieces = new string[vocabSize];
        var scores = new float[vocabSize];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < vocabSize; i++)
        {
            scores[i] = BitConverter.Int32BitsToSingle(ReadInt());
            var length = ReadInt();
            if (length < 0 || offset + length > data.Length) throw new ConfigException($"{path}: token {i} has length {length}, past the end of the file");
            var text = Encoding.UTF8.GetString(data, offset, length);
            offset += length;
            // llama2.c hard-codes BOS = 1, EOS = 2 and stores them as "\n<s>\n", "\n</s>\n"; HF names them <s>, </s>.
            pieces[i] = i switch { 0 => "<unk>", 1 => "<s>", 2 => "</s>", _ => text.Replace(" ", Metaspace, StringComparison.Ordinal) };
            if (!seen.TryAdd(pieces[i], i)) throw new ConfigException($"{path}: tokens {seen[pieces[i]]} and {i} are both '{text}'");
        }
        return (pieces, scores);
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string ConfigJson(Header h) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["architectures"] = new[] { "LlamaForCausalLM" },
        ["model_type"] = "llama",
        ["hidden_size"] = h.Dim,
        ["intermediate_size"] = h.HiddenDim,
        ["num_hidden_layers"] = h.Layers,
        ["num_attention_heads"] = h.Heads,
        ["num_key_value_heads"] = h.KvHeads,
        ["head_dim"] = h.Dim / h.Heads,
        ["vocab_size"] = h.VocabSize,
        ["max_position_embeddings"] = h.SeqLen,
        ["hidden_act"] = "silu",
        // llama2.c's run.c hard-codes these three.
        ["rms_norm_eps"] = 1e-5,
        ["rope_theta"] = 10000.0,
        ["rope_scaling"] = null,
        ["attention_bias"] = false,
        ["mlp_bias"] = false,
        ["tie_word_embeddings"] = h.SharedClassifier,
        ["bos_token_id"] = 1,
        ["eos_token_id"] = 2,
        ["torch_dtype"] = "float32",
    }, Json);

    private static string TokenizerConfigJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["tokenizer_class"] = "LlamaTokenizerFast",
        ["bos_token"] = "<s>",
        ["eos_token"] = "</s>",
        ["unk_token"] = "<unk>",
        ["add_bos_token"] = true,
        ["add_eos_token"] = false,
    }, Json);

    /// <summary>
    /// The vocabulary as HF's Llama 2 tokenizer.json: BPE with byte fallback, merges derived from the sentencepiece
    /// scores (every split of a piece into two pieces, best-scored result first), as transformers' SentencePieceExtractor.
    /// </summary>
    private static string TokenizerJson(string[] pieces, float[] scores)
    {
        var ids = pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i, StringComparer.Ordinal);
        bool Mergeable(int id) => id > 2 && !IsByte(pieces[id]);
        var merges = new List<(float Score, int Id, int Left, int Right)>();
        for (var id = 0; id < pieces.Length; id++)
        {
            if (!Mergeable(id)) continue;
            var p = pieces[id];
            for (var k = 1; k < p.Length; k++)
            {
                if (char.IsLowSurrogate(p[k])) continue;
                if (ids.TryGetValue(p[..k], out var l) && ids.TryGetValue(p[k..], out var r) && Mergeable(l) && Mergeable(r))
                    merges.Add((scores[id], id, l, r));
            }
        }
        var ordered = merges.OrderByDescending(m => m.Score).ThenBy(m => m.Id).ThenBy(m => m.Left)
            .Select(m => new[] { pieces[m.Left], pieces[m.Right] }).ToList();
        object Special(int id) => new Dictionary<string, object>
        {
            ["id"] = id, ["content"] = pieces[id], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        };
        object Replace(string from, string to) => new Dictionary<string, object> { ["type"] = "Replace", ["pattern"] = new Dictionary<string, string> { ["String"] = from }, ["content"] = to };
        var tokenizer = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new[] { Special(0), Special(1), Special(2) },
            ["normalizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["normalizers"] = new[] { new Dictionary<string, object> { ["type"] = "Prepend", ["prepend"] = Metaspace }, Replace(" ", Metaspace) },
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = new Dictionary<string, object>
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new object[]
                {
                    new Dictionary<string, object> { ["SpecialToken"] = new Dictionary<string, object> { ["id"] = "<s>", ["type_id"] = 0 } },
                    new Dictionary<string, object> { ["Sequence"] = new Dictionary<string, object> { ["id"] = "A", ["type_id"] = 0 } },
                },
                ["pair"] = new object[]
                {
                    new Dictionary<string, object> { ["SpecialToken"] = new Dictionary<string, object> { ["id"] = "<s>", ["type_id"] = 0 } },
                    new Dictionary<string, object> { ["Sequence"] = new Dictionary<string, object> { ["id"] = "A", ["type_id"] = 0 } },
                    new Dictionary<string, object> { ["SpecialToken"] = new Dictionary<string, object> { ["id"] = "<s>", ["type_id"] = 1 } },
                    new Dictionary<string, object> { ["Sequence"] = new Dictionary<string, object> { ["id"] = "B", ["type_id"] = 1 } },
                },
                ["special_tokens"] = new Dictionary<string, object>
                {
                    ["<s>"] = new Dictionary<string, object> { ["id"] = "<s>", ["ids"] = new[] { 1 }, ["tokens"] = new[] { "<s>" } },
                },
            },
            ["decoder"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["decoders"] = new object[]
                {
                    Replace(Metaspace, " "),
                    new Dictionary<string, object> { ["type"] = "ByteFallback" },
                    new Dictionary<string, object> { ["type"] = "Fuse" },
                    new Dictionary<string, object> { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 },
                },
            },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = "<unk>",
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = true,
                ["byte_fallback"] = true,
                ["ignore_merges"] = false,
                ["vocab"] = pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i),
                ["merges"] = ordered,
            },
        };
        return JsonSerializer.Serialize(tokenizer, Json);
    }

    private static bool IsByte(string piece) => piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>';
}
