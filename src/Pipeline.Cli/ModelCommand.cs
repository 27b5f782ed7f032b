using System.CommandLine;
using Pipeline.Learning.Hf;

namespace Pipeline.Cli;

/// <summary><c>pipeline model ...</c>: turn other formats into Hugging Face model folders the loader reads.</summary>
internal static class ModelCommand
{
    private static readonly Argument<FileInfo> ModelBin = new("model.bin") { Description = "A llama2.c checkpoint (legacy format, e.g. stories260K.bin)." };
    private static readonly Argument<FileInfo> TokenizerBin = new("tokenizer.bin") { Description = "Its llama2.c tokenizer (e.g. tok512.bin)." };
    private static readonly Argument<DirectoryInfo> OutFolder = new("out-folder") { Description = "The HF Llama folder to write (config.json, model.safetensors, tokenizer.json)." };

    public static Command Create()
    {
        var import = new Command("import-llama2c", "Convert a llama2.c model and tokenizer into a Hugging Face Llama folder (for pipeline generate).")
        {
            ModelBin, TokenizerBin, OutFolder,
        };
        import.SetAction(parse =>
        {
            var output = parse.GetValue(OutFolder)!.FullName;
            var h = Llama2cImporter.Import(parse.GetValue(ModelBin)!.FullName, parse.GetValue(TokenizerBin)!.FullName, output);
            Console.WriteLine($"wrote {output}: Llama, {h.Layers} layers, dim {h.Dim}, {h.Heads} heads ({h.KvHeads} KV), " +
                              $"hidden {h.HiddenDim}, vocab {h.VocabSize}, context {h.SeqLen}, {(h.SharedClassifier ? "tied" : "untied")} embeddings");
            return ExitCodes.Ok;
        });
        return new Command("model", "Model folders: import other formats.") { import };
    }
}
