using System.CommandLine;
using Pipeline.Cli;

var root = new RootCommand("""
    pipeline: asynchronous rollout/reward pipeline for RL post-training (GRPO) on Akka.NET.

    Quick start:  pipeline train            warm-start then GRPO on the built-in multilingual text-to-SQL task
                  pipeline eval --run DIR   score a run's newest checkpoint on the held-out split
    Configuration is HOCON: built-in defaults <- hocon/base.conf <- hocon/<mode>.conf <- --config <- --set.
    """);
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CriticSimCommand.Create());
root.Subcommands.Add(ExperimentCommand.Create());
root.Subcommands.Add(NodeCommand.Create());
try
{
    // Our own handler below, so a configuration problem exits with 2 instead of the library's generic 1.
    // Ctrl-C/SIGTERM cancel the command's token; the command then checkpoints, leaves the cluster and flushes metrics,
    // which may take one GRPO step plus a checkpoint: the library's default of 2 s before a forced exit would cut that off.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration
    {
        EnableDefaultExceptionHandler = false,
        ProcessTerminationTimeout = TimeSpan.FromSeconds(120),
    });
}
catch (Pipeline.Core.Configuration.ConfigException e)
{
    Console.Error.WriteLine($"configuration error: {e.Message}");
    return ExitCodes.ConfigError;
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: {e}");
    return ExitCodes.Failed;
}
