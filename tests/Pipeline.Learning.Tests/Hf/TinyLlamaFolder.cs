using Pipeline.Learning.Hf;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>Random-weight HF Llama folders in a temp directory, small enough for two CPU cores.</summary>
internal sealed class TinyLlamaFolder : IDisposable
{
    public const string ConfigJson = """
        {
          "architectures": ["LlamaForCausalLM"], "model_type": "llama",
          "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32,
          "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
          "hidden_act": "silu", "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2
        }
        """;

    public TinyLlamaFolder(string configJson = ConfigJson, string dtype = "F32", long seed = 3)
    {
        Path = Directory.CreateTempSubdirectory("llama-tiny-").FullName;
        File.WriteAllText(System.IO.Path.Combine(Path, "config.json"), configJson);
        var config = LlamaConfig.Load(Path);
        manual_seed(seed);
        using var model = new LlamaForCausalLM(config);
        Items = Items_(model);
        SafetensorsWriter.Write(System.IO.Path.Combine(Path, "model.safetensors"), Items, dtype);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Logits = model.forward(tensor(Sequence, new long[] { 1, Sequence.Length })).data<float>().ToArray();
    }

    public static readonly long[] Sequence = [1, 5, 9, 3, 17, 30, 4, 4, 12, 8];

    public string Path { get; }

    /// <summary>The weights as written (float32 values).</summary>
    public List<SafetensorsWriter.Item> Items { get; }

    /// <summary>Logits of <see cref="Sequence"/> under the model that was saved.</summary>
    public float[] Logits { get; }

    public string File_(string name) => System.IO.Path.Combine(Path, name);

    public static List<SafetensorsWriter.Item> Items_(nn.Module model) =>
        model.state_dict().Select(kv => new SafetensorsWriter.Item(kv.Key, kv.Value.shape, kv.Value.detach().contiguous().data<float>().ToArray())).ToList();

    public static float[] LogitsOf(LlamaForCausalLM model)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return model.forward(tensor(Sequence, new long[] { 1, Sequence.Length })).data<float>().ToArray();
    }

    public void Dispose() => Directory.Delete(Path, true);
}
