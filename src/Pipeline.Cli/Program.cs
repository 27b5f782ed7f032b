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
return await root.Parse(args).InvokeAsync();
