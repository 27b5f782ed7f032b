using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Pipeline.Cli;

/// <summary>
/// This program started again as child processes (<c>pipeline node ...</c>, <c>pipeline train ...</c>) for the cluster
/// benchmark: real OS processes on 127.0.0.1, each with its own output captured, killable with SIGKILL.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    private double _cpuSeconds;

    /// <summary>CPU seconds (user + system) used so far, as last sampled by <see cref="SampleCpu"/> (kept after exit).</summary>
    public double CpuSeconds => _cpuSeconds;

    /// <summary>Reads the process's CPU time now, while it runs.</summary>
    public void SampleCpu()
    {
        try
        {
            _process.Refresh();
            if (!_process.HasExited) _cpuSeconds = _process.TotalProcessorTime.TotalSeconds;
        }
        catch (InvalidOperationException) { }
    }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string Output { get { lock (_output) return _output.ToString(); } }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ChildProcess, byte> Live = new();

    /// <summary>
    /// Runs a command that starts child processes so that the first SIGINT/SIGTERM (<paramref name="ct"/>) reaches them too:
    /// each live child gets SIGTERM (it checkpoints and leaves), and whatever the command was waiting for then fails is
    /// reported as an interruption instead of an error.
    /// </summary>
    public static async Task<int> StopChildrenOnSignal(CancellationToken ct, Func<Task<int>> command)
    {
        await using var onSignal = ct.Register(() => { foreach (var child in Live.Keys) if (!child.HasExited) child.Interrupt(); });
        try
        {
            return await command().ConfigureAwait(false);
        }
        catch (Exception e) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine($"stopped by signal ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
            return ExitCodes.Interrupted;
        }
    }

    public static ChildProcess Start(string name, params string[] args)
    {
        // The apphost when this is it (`pipeline ...`), else `dotnet pipeline.dll` (under `dotnet pipeline.dll` or a test host).
        var self = Environment.ProcessPath;
        var apphost = self is not null && Path.GetFileNameWithoutExtension(self) == "pipeline";
        var start = new ProcessStartInfo(apphost ? self! : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!apphost) start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        var child = new ChildProcess(Process.Start(start)!, name);
        Live[child] = 0;
        return child;
    }

    /// <summary>SIGKILL: no shutdown hooks, no leaving the cluster; the others must notice by themselves.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: true);

    /// <summary>
    /// SIGTERM, which the node treats as Ctrl-C (it checkpoints and leaves the cluster) and which every orchestrator sends.
    /// Not SIGINT: a process started from a non-interactive shell's background job inherits SIGINT as ignored, and .NET
    /// keeps it ignored, so a SIGINT would never arrive (seen when the test suite itself ran in the background).
    /// </summary>
    public void Interrupt()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString()]) { UseShellExecute = false })!;
        kill.WaitForExit(5000);
    }

    /// <summary>
    /// SIGSTOP: the process stays alive but answers nothing (no heartbeats, no TCP reads), as a node behind a blackholed
    /// link looks to the others; a way to cut a node off without root or network tricks. <see cref="Resume"/> ends it.
    /// </summary>
    public void Pause() => Signal("-STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("-CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, _process.Id.ToString()]) { UseShellExecute = false })!;
        kill.WaitForExit(5000);
    }

    public async Task<bool> WaitAsync(TimeSpan timeout)
    {
        try
        {
            var until = DateTime.UtcNow + timeout;
            var exited = _process.WaitForExitAsync();
            while (!exited.IsCompleted)
            {
                if (DateTime.UtcNow > until) return false;
                SampleCpu();
                await Task.WhenAny(exited, Task.Delay(200)).ConfigureAwait(false);
            }
            await exited.ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        Live.TryRemove(this, out _);
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Reads a run's metrics.jsonl: the GRPO steps' rollouts and step times.</summary>
internal static class RunMetrics
{
    /// <summary>One GRPO step row: rollouts, step seconds, the learner's update and batch-wait seconds, the buffer's stale drops so far.</summary>
    public sealed record Step(double Rollouts, double Seconds, double Update, double Wait, double DroppedStale);

    /// <summary>GRPO step rows (those with <c>policy/version</c>), in order.</summary>
    public static List<Step> Steps(string runDir)
    {
        var path = Path.Combine(runDir, "metrics.jsonl");
        var rows = new List<Step>();
        if (!File.Exists(path)) return rows;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            JsonElement data;
            try { data = JsonDocument.Parse(line).RootElement.GetProperty("data"); }
            catch (JsonException) { continue; }  // a line being written
            if (!data.TryGetProperty("policy/version", out _) || !data.TryGetProperty("timing_s/step", out var step)) continue;
            double Get(string key) => data.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
            rows.Add(new Step(Get("throughput/rollouts_per_s") * step.GetDouble(), step.GetDouble(), Get("timing_s/update"), Get("timing_s/wait"),
                Get("buffer/dropped_stale")));
        }
        return rows;
    }

    /// <summary>A run's figures over the GRPO steps after the first few (warm-up of generators and JIT).</summary>
    public sealed record Summary(double RolloutsPerSec, int Steps, double UpdateSeconds, double WaitSeconds, double DroppedStale)
    {
        public override string ToString() => $"{RolloutsPerSec:0.0} rollouts/s over {Steps} steps (learner per step: update {UpdateSeconds:0.000} s, " +
            $"waiting for a batch {WaitSeconds:0.000} s; groups dropped stale in the whole run: {DroppedStale:0})";
    }

    /// <summary>Rollouts per second (and the learner's time per step) over the steps after the first <paramref name="skip"/>.</summary>
    public static Summary Throughput(string runDir, int skip)
    {
        var all = Steps(runDir);
        var steps = all.Skip(skip).ToList();
        var seconds = steps.Sum(s => s.Seconds);
        return new Summary(seconds > 0 ? steps.Sum(s => s.Rollouts) / seconds : 0, steps.Count,
            steps.Count > 0 ? steps.Average(s => s.Update) : 0, steps.Count > 0 ? steps.Average(s => s.Wait) : 0,
            all.Count > 0 ? all[^1].DroppedStale : 0);
    }
}
