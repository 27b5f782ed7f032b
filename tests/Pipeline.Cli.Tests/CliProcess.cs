using System.Diagnostics;

namespace Pipeline.Cli.Tests;

/// <summary>Runs the built `pipeline` program as a real child process, with a deadline.</summary>
internal static class CliProcess
{
    private static ProcessStartInfo StartInfo(string workingDirectory, string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pipeline.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    public static (int ExitCode, string StdOut, string StdErr) Run(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        using var process = Process.Start(StartInfo(workingDirectory, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pipeline {string.Join(' ', args)} did not finish within {timeout}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts a long-running command (a server); disposing the handle kills it and its children.</summary>
    public static RunningProcess Start(string workingDirectory, params string[] args)
    {
        var process = Process.Start(StartInfo(workingDirectory, args))!;
        var running = new RunningProcess(process);
        process.OutputDataReceived += (_, e) => running.Append(running.StdOutBuilder, e.Data);
        process.ErrorDataReceived += (_, e) => running.Append(running.StdErrBuilder, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return running;
    }

    /// <summary>Polls <paramref name="url"/> until it answers 2xx; throws when the deadline passes.</summary>
    public static void WaitForHttp(string url, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (http.GetAsync(url).GetAwaiter().GetResult().IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            Thread.Sleep(200);
        }
        throw new TimeoutException($"{url} did not answer within {timeout}");
    }

    public sealed class RunningProcess(Process process) : IDisposable
    {
        internal readonly System.Text.StringBuilder StdOutBuilder = new();
        internal readonly System.Text.StringBuilder StdErrBuilder = new();

        public Process Process => process;

        /// <summary>What the process wrote to stdout so far (complete once it has exited and <see cref="Process.WaitForExit()"/> returned).</summary>
        public string StdOut { get { lock (StdOutBuilder) return StdOutBuilder.ToString(); } }

        /// <summary>What the process wrote to stderr so far.</summary>
        public string StdErr { get { lock (StdErrBuilder) return StdErrBuilder.ToString(); } }

        internal void Append(System.Text.StringBuilder to, string? line)
        {
            if (line is null) return;
            lock (to) to.AppendLine(line);
        }

        public void Dispose()
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
            process.Dispose();
        }
    }
}
