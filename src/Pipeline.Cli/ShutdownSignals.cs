using System.Runtime.InteropServices;

namespace Pipeline.Cli;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM for every command. The first signal cancels <see cref="Token"/> (each command then
/// stops sampling, finishes or abandons its current step, writes its checkpoint and flushes its metrics) and says
/// so at once on stderr; a second signal exits at once through <c>_exit</c>, running no managed or native exit
/// handlers (libtorch's static destructors racing live worker threads are what segfaulted before). The exit code
/// is 128 + the signal: 130 for SIGINT, 143 for SIGTERM.
/// </summary>
/// <remarks>
/// System.CommandLine's own termination handling is off (<c>ProcessTerminationTimeout = null</c>): it blocks the
/// runtime's signal thread for its whole timeout waiting for the command, so no other handler and no second Ctrl-C
/// could run, and then returns from Main while the actors and torch threads were still working.
/// </remarks>
internal sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration _sigInt;
    private readonly PosixSignalRegistration _sigTerm;
    private int _count;
    private volatile int _signal;

    public ShutdownSignals()
    {
        _sigInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>The exit code the received signal calls for (130 or 143), or null when none arrived.</summary>
    public int? SignalExitCode => _signal == 0 ? null : 128 + _signal;

    /// <summary>What the process exits with: the signal's code when a signal stopped a command that ended normally or as interrupted.</summary>
    public int ExitCodeFor(int commandResult)
        => SignalExitCode is { } code && commandResult is ExitCodes.Ok or ExitCodes.Interrupted ? code : commandResult;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // the command decides when to exit
        var number = context.Signal == PosixSignal.SIGTERM ? 15 : 2;
        var name = number == 15 ? "SIGTERM" : "SIGINT";
        if (Interlocked.Increment(ref _count) == 1)
        {
            _signal = number;
            Console.Error.WriteLine($"\n{name}: stopping: finishing the current step, writing a checkpoint and flushing metrics (send it again to exit at once)...");
            // Cancellation callbacks tell actors and may take locks: keep them off the runtime's signal thread.
            _ = Task.Run(() => _cts.Cancel());
            return;
        }
        Console.Error.WriteLine($"\n{name} again: exiting now without waiting for the checkpoint (the newest complete checkpoint is kept).");
        Console.Error.Flush();
        Console.Out.Flush();
        ImmediateExit(128 + (_signal == 0 ? number : _signal));
    }

    /// <summary>Ends the process at once with <paramref name="code"/>: no finalizers, no atexit handlers, no native static destructors.</summary>
    public static void ImmediateExit(int code)
    {
        try { NativeExit(code); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { Environment.Exit(code); }
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void NativeExit(int status);

    public void Dispose()
    {
        _sigInt.Dispose();
        _sigTerm.Dispose();
        _cts.Dispose();
    }
}
