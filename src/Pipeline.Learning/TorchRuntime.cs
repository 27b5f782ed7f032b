using TorchSharp;

namespace Pipeline.Learning;

/// <summary>
/// Device and thread setup for TorchSharp.
/// </summary>
/// <remarks>
/// The native backend is chosen at BUILD time, not at run time: the default build references
/// <c>TorchSharp-cpu</c>; build with <c>dotnet build -p:TorchBackend=cuda</c> to reference
/// <c>TorchSharp-cuda-linux</c> instead (see Pipeline.Learning.csproj; it needs nuget.org, it does not
/// restore on the offline mirror). With the CPU package, <c>torch.cuda.is_available()</c> is always false,
/// so <c>"auto"</c> resolves to the CPU and <c>"cuda"</c> fails fast.
/// On Debian 12 / Ubuntu 22.04 the copied libLibTorchSharp.so is patched by build/TorchSharpGlibcxxFix.targets.
/// </remarks>
public static class TorchRuntime
{
    /// <summary>Resolves "auto" | "cpu" | "cuda" (optionally "cuda:N") to a device.</summary>
    public static torch.Device ResolveDevice(string setting)
    {
        var s = (setting ?? "auto").Trim().ToLowerInvariant();
        switch (s)
        {
            case "" or "auto":
                return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
            case "cpu":
                return torch.CPU;
            default:
                if (s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal))
                {
                    if (!torch.cuda.is_available())
                        throw new InvalidOperationException(
                            $"Device '{setting}' was requested but CUDA is not available: this build uses the " +
                            "TorchSharp CPU backend or no CUDA device/driver is present. Rebuild with " +
                            "-p:TorchBackend=cuda on a machine with CUDA, or set the device to 'auto' or 'cpu'.");
                    return new torch.Device(s);
                }
                throw new ArgumentException($"Unknown device '{setting}'; expected auto, cpu or cuda.", nameof(setting));
        }
    }

    /// <summary>Sets the intra-op thread count (ignored when <paramref name="threads"/> &lt;= 0).</summary>
    public static void Configure(int threads)
    {
        if (threads > 0) torch.set_num_threads(threads);
    }
}
