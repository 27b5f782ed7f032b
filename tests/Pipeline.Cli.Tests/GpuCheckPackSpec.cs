using System.Diagnostics;

namespace Pipeline.Cli.Tests;

/// <summary>deploy/gpu-check/pack.sh, the packing step of the GPU proof kit: what travels to the GPU machine, and its size.</summary>
public sealed class GpuCheckPackSpec : IDisposable
{
    private const long LimitBytes = 60L * 1024 * 1024;
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-gpu-pack-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Script => Path.Combine(RepoPaths.Root, "deploy", "gpu-check", "pack.sh");

    private (int ExitCode, string Output) Run(string program, TimeSpan deadline, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["GPU_CHECK_OUT"] = Path.Combine(_dir, "out");
        start.Environment["GPU_CHECK_BUILD"] = Path.Combine(_dir, "build");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(deadline))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {deadline}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void Pack_refuses_an_unknown_argument_with_code_2_naming_it()
    {
        var (code, output) = Run("bash", TimeSpan.FromSeconds(30), Script, "--fast");
        Assert.Equal(2, code);
        Assert.Contains("unknown argument '--fast'", output);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }

    [Fact]
    [Trait("Category", "Long")]
    public void Pack_writes_a_bundle_of_at_most_60_MiB_with_the_runtime_the_app_and_the_native_sources_but_no_CPU_libtorch()
    {
        var (code, output) = Run("bash", TimeSpan.FromMinutes(20), Script);
        Assert.True(code == 0, $"pack.sh exited {code}: {output}");

        var bundle = new FileInfo(Path.Combine(_dir, "out", "bundle.tar.xz"));
        Assert.True(bundle.Exists, output);
        Assert.True(bundle.Length <= LimitBytes, $"bundle is {bundle.Length / 1048576.0:F1} MiB");
        Assert.Contains("MiB (limit 60 MiB)", output);
        Assert.Equal(new[] { "bundle.tar.xz" }, Directory.GetFileSystemEntries(Path.Combine(_dir, "out")).Select(Path.GetFileName));

        var (listCode, listing) = Run("tar", TimeSpan.FromMinutes(2), "-tJf", bundle.FullName);
        Assert.True(listCode == 0, listing);
        var entries = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(e => e.TrimStart('.', '/')).ToHashSet();
        Assert.Contains("app/pipeline.dll", entries);
        Assert.Contains("app/runtimes/linux-x64/native/libLibTorchSharp.so", entries);
        Assert.Contains("app/hocon/base.conf", entries);
        Assert.Contains("dotnet/dotnet", entries);
        Assert.Contains(entries, e => e.StartsWith("dotnet/shared/Microsoft.NETCore.App/10.", StringComparison.Ordinal) && e.EndsWith("/libcoreclr.so", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.StartsWith("dotnet/host/fxr/", StringComparison.Ordinal) && e.EndsWith("/libhostfxr.so", StringComparison.Ordinal));
        Assert.Contains("torchsharp-native/src/Native/LibTorchSharp/THSTorch.cpp", entries);
        Assert.DoesNotContain(entries, e => e.Contains("libtorch_cpu") || e.Contains("libc10.so") || e.Contains("libonnxruntime"));
        Assert.DoesNotContain(entries, e => e.StartsWith("app/runtimes/", StringComparison.Ordinal) && e != "app/runtimes/" && !e.StartsWith("app/runtimes/linux-x64", StringComparison.Ordinal));
    }
}
