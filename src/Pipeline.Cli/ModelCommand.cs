using System.CommandLine;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Policy;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cli;

/// <summary><c>pipeline model ...</c>: turn other formats into Hugging Face model folders the loader reads.</summary>
internal static class ModelCommand
{
    private static readonly Argument<FileInfo> ModelBin = new("model.bin") { Description = "A llama2.c checkpoint (legacy format, e.g. stories260K.bin)." };
    private static readonly Argument<FileInfo> TokenizerBin = new("tokenizer.bin") { Description = "Its llama2.c tokenizer (e.g. tok512.bin)." };
    private static readonly Argument<DirectoryInfo> OutFolder = new("out-folder") { Description = "The HF Llama folder to write (config.json, model.safetensors, tokenizer.json)." };

    private static readonly Option<DirectoryInfo> Run = new("--run") { Description = "The run folder (started with train --model).", Required = true };
    private static readonly Option<DirectoryInfo> Out = new("--out") { Description = "The Hugging Face folder to write (must not exist, or be empty).", Required = true };
    private static readonly Option<DirectoryInfo?> Checkpoint = new("--checkpoint") { Description = "A checkpoint folder of the run (default: the newest intact one)." };
    private static readonly Option<bool> MergeLora = new("--merge-lora") { Description = "A LoRA run: merge the adapters into the base and write a full model (default: a PEFT adapter folder)." };

    public static Command Create()
    {
        var export = new Command("export", "Write a run's policy as a Hugging Face folder (config.json, model.safetensors, tokenizer files) for transformers, vLLM or pipeline generate.")
        {
            Run, Out, Checkpoint, MergeLora, CommonOptions.HoconDir,
        };
        export.SetAction(parse => Export(parse));

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
        return new Command("model", "Model folders: import other formats, export a trained run.") { import, export, ModelLogitsCommand.Create() };
    }

    private static int Export(ParseResult parse)
    {
        var runDir = parse.GetValue(Run)!.FullName;
        var snapshot = Path.Combine(runDir, LocalRun.ConfigSnapshotFile);
        if (!File.Exists(snapshot)) throw new ConfigException($"--run: {runDir} has no {LocalRun.ConfigSnapshotFile}; is it a run folder?");
        var settings = PipelineSettings.Load(CommonOptions.ResolveHoconDir(parse.GetValue(CommonOptions.HoconDir)), "local", snapshot, []);
        if (settings.Policy.Source != "hf")
            throw new ConfigException($"--run: {runDir} trained the built-in policy, which has no Hugging Face architecture; export reads runs started from a model folder (train --model)");
        var checkpointDir = parse.GetValue(Checkpoint)?.FullName
            ?? LocalRun.FindResumePoint(runDir, warning => Console.Error.WriteLine("warning: " + warning))?.CheckpointDir
            ?? throw new ConfigException($"--run: {runDir} holds no intact checkpoint");
        if (CheckpointStore.Check(checkpointDir) is { Intact: false } broken)
            throw new ConfigException($"--checkpoint: {checkpointDir} is broken: {broken.Problem}");

        var tokenizerDir = Path.Combine(runDir, LocalRun.TokenizerFolder);
        var tokenizer = PolicyFactory.LoadTokenizer(settings.Policy, tokenizerDir);
        var policy = PolicyFactory.From(settings.Policy, tokenizer);
        ResumeChecks.RequireSamePolicy(policy, checkpointDir);
        using var model = policy.Create(settings.Seed);
        var meta = CheckpointStore.Load(checkpointDir, model, null);
        var output = parse.GetValue(Out)!.FullName;
        if (Pipeline.Learning.Lora.LoraAdapters.HasAdapters(model) && !parse.GetValue(MergeLora))
        {
            // PEFT's layout: adapter_config.json + adapter_model.safetensors over the base folder, plus the tokenizer files.
            HfExport.RequireNewFolder(output);
            Pipeline.Learning.Lora.PeftAdapterFolder.Save(model, Pipeline.Learning.Lora.LoraAdapterConfig.From(settings.Policy.Lora), output, settings.Policy.Path);
            foreach (var name in HfPolicyTokenizer.Files)
                if (File.Exists(Path.Combine(tokenizerDir, name))) File.Copy(Path.Combine(tokenizerDir, name), Path.Combine(output, name));
            Console.WriteLine($"wrote {output}: LoRA adapters (PEFT) over {settings.Policy.Path}, from {checkpointDir} (stage {meta.Stage}, step {meta.Step}, policy version {meta.PolicyVersion}); --merge-lora writes a full model");
            return ExitCodes.Ok;
        }
        if (Pipeline.Learning.Lora.LoraAdapters.HasAdapters(model)) Pipeline.Learning.Lora.LoraAdapters.MergeAndUnload(model);
        HfExport.Write(model, Path.Combine(settings.Policy.Path, "config.json"), tokenizerDir, output);
        Console.WriteLine($"wrote {output}: {checkpointDir} (stage {meta.Stage}, step {meta.Step}, policy version {meta.PolicyVersion})");
        return ExitCodes.Ok;
    }
}
