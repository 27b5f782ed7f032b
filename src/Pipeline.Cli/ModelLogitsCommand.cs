using System.CommandLine;
using System.Text.Json;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Hf;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline model logits</c> (hidden): the logits of a Hugging Face folder for given ids, and its greedy continuation,
/// as JSON, so that deploy/gpu-check/compare.py can hold them against transformers on the same folder.
/// </summary>
internal static class ModelLogitsCommand
{
    private static readonly Option<DirectoryInfo> Model = new("--model") { Description = "A Hugging Face model folder (config.json, model.safetensors).", Required = true };
    private static readonly Option<string> PromptIds = new("--prompt-ids") { Description = "Token ids to run, separated by spaces or commas (e.g. \"1 5 9\").", Required = true };
    private static readonly Option<FileInfo> Out = new("--out") { Description = "The JSON file to write (prompt_ids, logits [T][vocab], greedy_ids).", Required = true };
    private static readonly Option<string> Device = new("--device") { Description = "cpu | cuda | cuda:N | auto.", DefaultValueFactory = _ => "cpu" };
    private static readonly Option<string> DType = new("--dtype") { Description = "float32 | bfloat16: the dtype the weights are cast to before the forward.", DefaultValueFactory = _ => "float32" };
    private static readonly Option<int> Greedy = new("--greedy") { Description = "Greedy tokens to decode after the prompt with the KV cache (0 = none).", DefaultValueFactory = _ => 0 };

    public static Command Create()
    {
        var command = new Command("logits", "Write a model folder's logits and greedy ids for given token ids as JSON (used by deploy/gpu-check).")
        {
            Model, PromptIds, Out, Device, DType, Greedy,
        };
        command.Hidden = true;
        command.SetAction((parse, ct) => Task.FromResult(Execute(parse, ct)));
        return command;
    }

    /// <summary>Parses "1 2 3" or "1,2,3"; names the bad token.</summary>
    internal static int[] ParseIds(string text)
    {
        var parts = text.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ConfigException("--prompt-ids: no ids given; pass at least one, e.g. --prompt-ids \"1 5 9\"");
        return parts.Select(p => int.TryParse(p, out var id) && id >= 0
            ? id
            : throw new ConfigException($"--prompt-ids: '{p}' is not a non-negative integer token id")).ToArray();
    }

    internal static ScalarType ParseDType(string text) => text.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ConfigException($"--dtype: '{text}' is not float32 or bfloat16"),
    };

    private static int Execute(ParseResult parse, CancellationToken ct)
    {
        var ids = ParseIds(parse.GetValue(PromptIds)!);
        var dtype = ParseDType(parse.GetValue(DType)!);
        var greedy = parse.GetValue(Greedy);
        if (greedy < 0) throw new ConfigException($"--greedy must be >= 0, got {greedy}");
        var device = TorchRuntime.ResolveDevice(parse.GetValue(Device)!);
        var folder = parse.GetValue(Model)!.FullName;

        using var model = LlamaForCausalLM.FromPretrained(folder);
        var vocab = model.Config.VocabSize;
        if (ids.FirstOrDefault(i => i >= vocab, -1) is var bad and >= 0)
            throw new ConfigException($"--prompt-ids: id {bad} is outside the model's vocab_size {vocab}");
        if (ids.Length + greedy > model.Config.MaxPositionEmbeddings)
            throw new ConfigException($"--prompt-ids ({ids.Length}) plus --greedy {greedy} exceed max_position_embeddings {model.Config.MaxPositionEmbeddings}");
        // The loader reads every checkpoint as float32 on the CPU; the device and dtype under test are applied here.
        model.to(device);
        if (dtype != ScalarType.Float32) model.to(dtype);

        float[][] logits;
        List<int> greedyIds;
        try
        {
            using (no_grad())
            using (NewDisposeScope())
            {
                var input = tensor(ids.Select(i => (long)i).ToArray(), new long[] { 1, ids.Length }, device: device);
                var all = model.Forward(input, null)[0].to(ScalarType.Float32).cpu();
                logits = Enumerable.Range(0, ids.Length).Select(t => all[t].data<float>().ToArray()).ToArray();
            }
            greedyIds = greedy == 0 ? [] : LlamaGenerator.Generate(model, ids, greedy, new SamplingOptions(0, 1, 0), [], ct);
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (dtype != ScalarType.Float32)
        {
            // Reported as a finding, not a crash: the kit records which dtypes the .NET model computes in.
            Console.Error.WriteLine($"error: the model does not run in {parse.GetValue(DType)} on {device}: {e.Message.Split('\n')[0]}");
            return ExitCodes.Failed;
        }

        var output = parse.GetValue(Out)!.FullName;
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        using (var stream = File.Create(output))
            JsonSerializer.Serialize(stream, new
            {
                model = folder,
                device = device.ToString(),
                dtype = dtype == ScalarType.Float32 ? "float32" : "bfloat16",
                prompt_ids = ids,
                logits,
                greedy_ids = greedyIds,
            });
        Console.WriteLine($"wrote {output}: logits [{ids.Length}, {vocab}] on {device} in {(dtype == ScalarType.Float32 ? "float32" : "bfloat16")}, {greedyIds.Count} greedy ids");
        return ExitCodes.Ok;
    }
}
