using Pipeline.Learning.Hf;

namespace Pipeline.Learning.Tests.Hf;

public class RopeScalingSpec
{
    private static float[] Frequencies(string ropeJson)
    {
        var dir = Directory.CreateTempSubdirectory("llama-rope-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), TinyLlamaFolder.ConfigJson.Replace("\"rope_theta\": 10000.0", ropeJson)
                .Replace("\"hidden_size\": 16", "\"hidden_size\": 512"));
            var config = LlamaConfig.Load(dir);
            return new LlamaRotaryEmbedding(config.HeadDim, config.Rope).InverseFrequencies;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Llama3_scaling_keeps_short_wavelengths_slows_long_ones_and_blends_between()
    {
        // Llama 3.1's values; expected numbers from an independent float64 transcription of transformers'
        // _compute_llama3_parameters (head_dim 128).
        var inv = Frequencies("""
            "rope_theta": 500000.0, "rope_scaling": { "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192 }
            """);
        Assert.Equal(64, inv.Length);
        Assert.Equal(1.0, inv[0], 1e-6);
        Assert.Equal(0.12868737343265052, inv[10], 1e-6);
        Assert.Equal(0.0013718935677611381, inv[30], 1e-7);
        Assert.Equal(0.00031269375038406517, inv[33], 1e-8);
        Assert.Equal(3.428102195952591e-05, inv[40], 1e-9);
        Assert.Equal(3.068925988914511e-07, inv[63], 1e-11);
    }

    [Fact]
    public void Linear_scaling_divides_every_frequency_by_the_factor()
    {
        var plain = Frequencies("\"rope_theta\": 10000.0");
        var scaled = Frequencies("""
            "rope_theta": 10000.0, "rope_scaling": { "type": "linear", "factor": 4.0 }
            """);
        Assert.Equal(plain.Length, scaled.Length);
        for (var i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 4, scaled[i], 1e-9);
    }

    [Fact]
    public void Transformers_5_rope_parameters_are_read_too()
    {
        var inv = Frequencies("""
            "rope_parameters": { "rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0 }
            """);
        Assert.Equal(1.0 / 2, inv[0], 1e-7);
        Assert.Equal(Math.Pow(10000, -2.0 / 128) / 2, inv[1], 1e-7);
    }
}
