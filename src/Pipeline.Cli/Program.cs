using System.CommandLine;
using Pipeline.Cli;

var root = new RootCommand("""
    pipeline: asynchronous rollout/reward pipeline for RL post-training (GRPO) on Akka.NET.

    Quick start:  pipeline train            warm-start then GRPO on the built-in multilingual text-to-SQL task
                  pipeline eval --run DIR   score a run's newest checkpoint on the held-out split
    Configuration is HOCON: built-in defaults <- hocon/base.conf <- hocon/<mode>.conf <- --config <- --set.
    Ctrl-C or SIGTERM: the current step finishes, a checkpoint is written, exit code 130 (SIGINT) or 143 (SIGTERM).
    """);
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CriticSimCommand.Create());
root.Subcommands.Add(ExperimentCommand.Create());
root.Subcommands.Add(NodeCommand.Create());
root.Subcommands.Add(CertsCommand.Create());
root.Subcommands.Add(ModelCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(SimulateCommand.Create());

using var signals = new ShutdownSignals();
int rc;
try
{
    var parse = root.Parse(args);
    // A parse error (unknown subcommand or option, missing argument) is a usage error: exit code 2, like a bad key.
    if (parse.Errors.Count > 0)
    {
        await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        return ExitCodes.ConfigError;
    }
    // Our own handlers: a configuration problem exits with 2 instead of the library's generic 1, and the signals
    // are ShutdownSignals' (the library's termination handling is off, see there).
    rc = await parse.InvokeAsync(new InvocationConfiguration
    {
        EnableDefaultExceptionHandler = false,
        ProcessTerminationTimeout = null,
    }, signals.Token);
}
catch (Pipeline.Core.Configuration.ConfigException e)
{
    Console.Error.WriteLine($"configuration error: {e.Message}");
    rc = ExitCodes.ConfigError;
}
catch (OperationCanceledException) when (signals.SignalExitCode is not null)
{
    Console.Error.WriteLine("stopped by signal");
    rc = ExitCodes.Interrupted;
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: {e}");
    rc = ExitCodes.Failed;
}
Console.Out.Flush();
Console.Error.Flush();
return signals.ExitCodeFor(rc);
