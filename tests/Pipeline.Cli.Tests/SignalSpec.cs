using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The real `pipeline` program as a child process, stopped by real signals: Ctrl-C typed into a pseudo-terminal
/// (through `script`, so the terminal's line discipline sends SIGINT and the live table is on), SIGINT and SIGTERM
/// from another process without a terminal, and a second signal. Each run must exit with 128 + the signal, leave a
/// checkpoint at the step it reports, and `train --resume` must continue from that step and policy version.
/// </summary>
/// <remarks>
/// Children start through `env --default-signal=INT`: a test host started as a background job of a non-interactive
/// shell (as CI may be) inherits SIGINT as ignored and would pass that on, which no user's terminal does.
/// </remarks>
public sealed class SignalSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _runs = Directory.CreateTempSubdirectory("pipeline-signal-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_runs, recursive: true); } catch (IOException) { }
    }

    private static readonly string[] Small =
    [
        "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"), "--hocon-dir", RepoPaths.Hocon,
        "--set", "warm-start.max-epochs=1", "--set", "eval.limit=10", "--set", "checkpoint.every-steps=100000",
    ];

    [Fact]
    public async Task Ctrl_C_in_a_terminal_checkpoints_exits_130_and_resume_continues_from_that_step()
    {
        var runDir = Path.Combine(_runs, "tty");
        using var train = Start(runDir, terminal: true, ["train", .. Small, "--set", "grpo.steps=100000", "--set", $"run-dir={_runs}", "--set", "run-name=tty"]);
        await UntilGrpoSteps(runDir, 3, train);
        var clock = Stopwatch.StartNew();
        await train.Process.StandardInput.WriteAsync('\u0003'); // what Ctrl-C types: the pty turns it into SIGINT
        await train.Process.StandardInput.FlushAsync();
        var (step, version) = await Stopped(train, 130, clock);
        Assert.Contains("SIGINT: stopping", train.Output);
        await AssertResumeContinues(runDir, step, version);
    }

    [Fact]
    public async Task SIGTERM_without_a_terminal_checkpoints_exits_143_and_resume_continues_from_that_step()
    {
        var runDir = Path.Combine(_runs, "term");
        using var train = Start(runDir, terminal: false, ["train", .. Small, "--set", "grpo.steps=100000", "--set", $"run-dir={_runs}", "--set", "run-name=term"]);
        await UntilGrpoSteps(runDir, 3, train);
        var clock = Stopwatch.StartNew();
        Kill("-TERM", train.Process.Id);
        var (step, version) = await Stopped(train, 143, clock);
        await AssertResumeContinues(runDir, step, version);
    }

    [Fact]
    public async Task SIGINT_without_a_terminal_checkpoints_and_exits_130()
    {
        var runDir = Path.Combine(_runs, "int");
        using var train = Start(runDir, terminal: false, ["train", .. Small, "--set", "grpo.steps=100000", "--set", $"run-dir={_runs}", "--set", "run-name=int"]);
        await UntilGrpoSteps(runDir, 2, train);
        var clock = Stopwatch.StartNew();
        Kill("-INT", train.Process.Id);
        var (step, _) = await Stopped(train, 130, clock);
        Assert.True(step >= 2, $"interrupted at step {step}");
    }

    [Fact]
    public async Task A_second_signal_exits_at_once_and_leaves_a_run_folder_that_resumes()
    {
        var runDir = Path.Combine(_runs, "twice");
        // Checkpoints every step, so the second signal may land while one is being written.
        using var train = Start(runDir, terminal: false, ["train", .. Small, "--set", "grpo.steps=100000", "--set", "checkpoint.every-steps=1",
            "--set", $"run-dir={_runs}", "--set", "run-name=twice"]);
        await UntilGrpoSteps(runDir, 3, train);
        Kill("-INT", train.Process.Id);
        await Task.Delay(20);
        Kill("-INT", train.Process.Id);
        Assert.True(await WaitExit(train.Process, TimeSpan.FromSeconds(20)), "no exit within 20 s of a second SIGINT:\n" + train.Output);
        Assert.True(train.Process.ExitCode == 130, $"exit code {train.Process.ExitCode}\n{train.Output}");
        Assert.Contains("SIGINT again: exiting now", train.Output);
        Assert.DoesNotContain("Unhandled exception", train.Output);

        var resumed = RunCli(["train", "--resume", runDir, "--set", "grpo.steps=0", "--set", "eval.limit=5"]);
        Assert.True(resumed.ExitCode == 0, $"resume after a second signal: exit {resumed.ExitCode}\n{resumed.Output}");
        Assert.Matches(@"resuming from .*step-\d+: stage grpo, step \d+, policy version \d+", resumed.Output);
    }

    private async Task<(long Step, long Version)> Stopped(Child train, int expectedExit, Stopwatch clock)
    {
        Assert.True(await WaitExit(train.Process, TimeSpan.FromSeconds(90)), "no exit within 90 s of the signal:\n" + train.Output);
        output.WriteLine($"exited {train.Process.ExitCode} {clock.Elapsed.TotalSeconds:0.0} s after the signal");
        Assert.True(train.Process.ExitCode == expectedExit, $"exit code {train.Process.ExitCode}, expected {expectedExit}\n{train.Output}");
        Assert.DoesNotContain("Unhandled exception", train.Output);
        var m = Regex.Match(train.Output, @"Interrupted at step (\d+), policy version (\d+)");
        Assert.True(m.Success, "no 'Interrupted at step' line:\n" + train.Output);
        var step = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var version = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        var checkpoint = Path.Combine(train.RunDir, "checkpoints", $"step-{step:D6}");
        Assert.True(Directory.Exists(checkpoint), $"no checkpoint {checkpoint}: {string.Join(", ", Directory.GetDirectories(Path.Combine(train.RunDir, "checkpoints")).Select(Path.GetFileName))}");
        return (step, version);
    }

    private static async Task AssertResumeContinues(string runDir, long step, long version)
    {
        var resumed = RunCli(["train", "--resume", runDir, "--set", $"grpo.steps={step + 2}", "--set", "eval.limit=5"]);
        Assert.True(resumed.ExitCode == 0, $"resume: exit {resumed.ExitCode}\n{resumed.Output}");
        Assert.Contains($"stage grpo, step {step}, policy version {version}", resumed.Output);
        var steps = File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl")).Where(l => l.Contains("\"policy/version\"")).ToList();
        Assert.Contains(steps, l => l.StartsWith($"{{\"step\":{step + 1},", StringComparison.Ordinal));
        Assert.Contains(steps, l => l.StartsWith($"{{\"step\":{step + 2},", StringComparison.Ordinal));
        await Task.CompletedTask;
    }

    private static (int ExitCode, string Output) RunCli(string[] args)
    {
        using var process = Process.Start(StartInfo(args, terminal: false))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(180)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pipeline {string.Join(' ', args)} did not finish within 180 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static ProcessStartInfo StartInfo(string[] args, bool terminal)
    {
        string[] command = ["env", "--default-signal=INT", "dotnet", Path.Combine(AppContext.BaseDirectory, "pipeline.dll"), .. args];
        var start = terminal
            // script gives the child a pseudo-terminal (a real tty: Spectre's live view, the line discipline's Ctrl-C) and relays its stdin to it.
            ? new ProcessStartInfo("script", ["-qfec", string.Join(' ', command.Select(Quote)), "/dev/null"])
            : new ProcessStartInfo(command[0], command[1..]);
        start.WorkingDirectory = RepoPaths.Root;
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.Environment["COLUMNS"] = "160";
        return start;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static Child Start(string runDir, bool terminal, string[] args)
    {
        var process = Process.Start(StartInfo(args, terminal))!;
        var child = new Child(process, runDir);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private static async Task UntilGrpoSteps(string runDir, int steps, Child child)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        while (RunMetrics.Steps(runDir).Count < steps)
        {
            if (child.Process.HasExited) throw new InvalidOperationException($"pipeline exited ({child.Process.ExitCode}) before {steps} GRPO steps:\n{child.Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"fewer than {steps} GRPO steps within 180 s:\n{child.Output}");
            await Task.Delay(100);
        }
    }

    private static void Kill(string signal, int pid)
    {
        using var kill = Process.Start("kill", [signal, pid.ToString(CultureInfo.InvariantCulture)])!;
        Assert.True(kill.WaitForExit(10_000) && kill.ExitCode == 0, $"kill {signal} {pid} failed");
    }

    private static async Task<bool> WaitExit(Process process, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { return false; }
        process.WaitForExit(); // drains the redirected output
        return true;
    }

    private sealed class Child(Process process, string runDir) : IDisposable
    {
        private readonly System.Text.StringBuilder _output = new();
        public Process Process => process;
        public string RunDir => runDir;
        /// <summary>stdout and stderr so far, without the terminal's colour and cursor escapes.</summary>
        public string Output { get { lock (_output) return Regex.Replace(_output.ToString(), @"\x1b\[[0-9;?]*[A-Za-z]", ""); } }
        public void Append(string? line) { if (line is not null) lock (_output) _output.AppendLine(line); }

        public void Dispose()
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
        }
    }
}
