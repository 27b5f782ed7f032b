using Pipeline.Learning.Hf;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>The real llama2.c checkpoint in ../shared/fixtures/stories260K, imported and run against upstream's numbers.</summary>
public sealed class Stories260KSpec : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("stories260k-").FullName;

    public Stories260KSpec()
    {
        var fixture = FixtureDir;
        Llama2cImporter.Import(Path.Combine(fixture, "stories260K.bin"), Path.Combine(fixture, "tok512.bin"), _folder);
    }

    public static string FixtureDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
            var root = dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
            var fixture = Path.GetFullPath(Path.Combine(root, "..", "shared", "fixtures", "stories260K"));
            if (!File.Exists(Path.Combine(fixture, "stories260K.bin"))) throw new InvalidOperationException($"the stories260K fixture is not at {fixture}");
            return fixture;
        }
    }

    public void Dispose() => Directory.Delete(_folder, true);

    [Fact]
    public void After_BOS_the_top_logit_is_upstreams_id_403_at_17_0235()
    {
        using var model = LlamaForCausalLM.FromPretrained(_folder);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.forward(tensor(new long[] { 1 }, new long[] { 1, 1 }))[0, 0];
        Assert.Equal(512, logits.shape[0]);
        Assert.Equal(403, logits.argmax().item<long>());
        Assert.Equal(17.0235, logits[403].item<float>(), 1e-3);
    }

    [Fact]
    public void Greedy_decoding_starts_with_upstreams_first_15_ids_and_text()
    {
        using var model = LlamaForCausalLM.FromPretrained(_folder);
        var ids = LlamaGenerator.Generate(model, [1], 15, new SamplingOptions(0, 1, 0), [2]);
        Assert.Equal(new[] { 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426 }, ids);
        var tokenizer = HfTokenizer.Load(_folder);
        var expected = File.ReadAllText(Path.Combine(FixtureDir, "expected_greedy_200.txt"));
        var text = tokenizer.Decode(new[] { 1 }.Concat(ids));
        Assert.StartsWith(text, expected);
        Assert.Equal("Once upon a time, there was a little girl named Lily.", text);
    }

    [Fact]
    public void The_written_tokenizer_encodes_text_back_to_the_models_ids()
    {
        var tokenizer = HfTokenizer.Load(_folder);
        Assert.Equal(512, tokenizer.VocabSize);
        Assert.Equal(new[] { 403, 407, 261, 378 }, tokenizer.Encode("Once upon a time"));
    }

    [Theory]
    [InlineData("Lily's mom said, \"Lily, let's go to the park.\"\nThe end.")]
    [InlineData("Ünïcode 🙂 falls back to bytes")]
    public void Encoding_then_decoding_gives_back_the_text(string text)
    {
        var tokenizer = HfTokenizer.Load(_folder);
        var ids = tokenizer.Encode(text);
        Assert.DoesNotContain(0, ids); // no <unk>: unknown characters went to byte tokens
        Assert.Equal(text, tokenizer.Decode(new[] { 1 }.Concat(ids)));
    }
}
