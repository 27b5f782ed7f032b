using System.CommandLine;
using System.Globalization;
using Pipeline.Cluster;
using Pipeline.Core.Configuration;
using Pipeline.Learning;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline bench weight-sync</c>: a Llama-shaped model of a named size (random weights) synced from a learner node to
/// generator nodes over TCP on loopback, through the production path (live tensors, one acknowledged chunk in flight per
/// receiver, staged and checksum-verified, applied in place). Prints bytes per version, time until every generator node
/// holds it, and the learner's extra memory against one chunk per receiver.
/// </summary>
internal static class BenchWeightSyncCommand
{
    private static readonly Option<string> Size = new("--size") { Description = "Model shape: tiny, 25m or 125m (as bench model).", DefaultValueFactory = _ => "25m" };
    private static readonly Option<string> Dtype = new("--dtype") { Description = "Dtype of the model in memory: f32 or bf16.", DefaultValueFactory = _ => "bf16" };
    private static readonly Option<bool> Lora = new("--lora") { Description = "Attach rank-16 LoRA adapters to every linear layer: a version carries only the adapters." };
    private static readonly Option<int> Receivers = new("--receivers") { Description = "Generator nodes.", DefaultValueFactory = _ => 2 };
    private static readonly Option<int> Repeats = new("--repeats") { Description = "Timed versions after one warm-up version.", DefaultValueFactory = _ => 3 };
    private static readonly Option<int> ChunkKib = new("--chunk-kib") { Description = "Chunk size in KiB (a multiple of 1; the frame limit bounds it).", DefaultValueFactory = _ => 256 };

    public static Command Create()
    {
        var command = new Command("weight-sync", "Weight sync of a 25M/125M Llama-shaped model to generator nodes on loopback: bytes per version, time, learner memory per receiver.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.HoconDir, Size, Dtype, Lora, Receivers, Repeats, ChunkKib,
        };
        command.SetAction((parse, _) => RunAsync(parse));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse)
    {
        var sizeName = parse.GetValue(Size)!;
        var shape = BenchModelCommand.Shapes.FirstOrDefault(s => s.Name == sizeName)
                    ?? throw new ConfigException($"--size '{sizeName}' is not known (known: {string.Join(", ", BenchModelCommand.Shapes.Select(s => s.Name))})");
        var dtype = parse.GetValue(Dtype) switch
        {
            "f32" => ScalarType.Float32,
            "bf16" => ScalarType.BFloat16,
            var d => throw new ConfigException($"--dtype '{d}' is not known (known: f32, bf16)"),
        };
        var receivers = parse.GetValue(Receivers);
        var repeats = parse.GetValue(Repeats);
        var chunkKib = parse.GetValue(ChunkKib);
        if (receivers < 1 || repeats < 1 || chunkKib < 1)
            throw new ConfigException($"--receivers, --repeats and --chunk-kib must be positive (got {receivers}, {repeats}, {chunkKib})");
        var lora = parse.GetValue(Lora);
        var hocon = CommonOptions.ResolveHoconDir(parse.GetValue(CommonOptions.HoconDir));
        var settings = Runtime.Hosting.SettingsValidation.Check(PipelineSettings.Load(hocon, "cluster", parse.GetValue(CommonOptions.Config)?.FullName,
            parse.GetValue(CommonOptions.Set) ?? []));
        TorchRuntime.Configure(settings.TorchThreads);
        var config = BenchModelCommand.ConfigOf(shape, 128);

        nn.Module Create()
        {
            var model = new LlamaForCausalLM(config);
            model.to(dtype);
            if (lora) LoraAdapters.Attach(model, new LoraAdapterConfig(16, 32, 0, [LoraAdapterConfig.AllLinear]) { TargetIsPattern = true }, seed: 3);
            return model;
        }

        Console.WriteLine($"machine: {BenchModelCommand.CpuModel()}, {Environment.ProcessorCount} cores, load average at start {BenchModelCommand.LoadAverage()}");
        Console.WriteLine($"== weight sync: {shape.Name} ({dtype}{(lora ? ", LoRA r16 on all linear layers" : ", full weights")}) -> {receivers} generator nodes " +
                          $"(TCP loopback, {chunkKib} KiB chunks, one in flight per receiver, applied in place)");
        var r = await WeightSyncBenchmark.RunModelAsync(settings, Create, repeats, receivers, chunkKib * 1024).ConfigureAwait(false);
        static string Mib(long b) => $"{b / 1048576.0:0.00} MiB";
        var budget = (long)r.ChunkBytes * r.Receivers;
        Console.WriteLine($"  bytes per version: {r.VersionBytes.ToString("N0", CultureInfo.InvariantCulture)} ({Mib(r.VersionBytes)}) in {r.Tensors} tensors, {r.Chunks} chunks");
        Console.WriteLine($"  time until {r.Receivers} generator nodes hold it (applied): median {r.Median:0.000} s, best {r.Seconds.Min():0.000} s over {r.Seconds.Count} versions " +
                          $"({r.VersionBytes * (double)r.Receivers / 1048576 / r.Median:0} MiB/s delivered)");
        Console.WriteLine($"  learner bridge, peak chunk bytes in flight (sent, not yet acknowledged): {Mib(r.InFlightPeakBytes)} = {(double)r.InFlightPeakBytes / budget:0.00} x " +
                          $"(chunk x receivers = {Mib(budget)})");
        Console.WriteLine($"  process peak RSS growth during a sync (learner + {r.Receivers} receivers + remoting, sampled every 2 ms): {Mib(r.RssPeakDeltaBytes)}");
        Console.WriteLine($"  process peak managed-heap growth during a sync (same, GC.GetTotalMemory): {Mib(r.ManagedPeakDeltaBytes)}");
        Console.WriteLine($"  for comparison, the old float32 export (WeightTransfer.Export) allocates {Mib(r.OldExportAllocatedBytes)} per version");
        return 0;
    }
}
