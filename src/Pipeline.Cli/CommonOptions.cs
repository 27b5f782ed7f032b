using System.CommandLine;
using Pipeline.Core.Configuration;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cli;

/// <summary>Options shared by every command that reads configuration.</summary>
internal static class CommonOptions
{
    public static readonly Option<FileInfo?> Config = new("--config", "-c")
    {
        Description = "Your HOCON file, layered over hocon/base.conf and the mode file (e.g. my-run.conf).",
    };

    public static readonly Option<string[]> Set = new("--set", "-s")
    {
        Description = "Override one key, e.g. --set grpo.steps=100 (the 'pipeline.' prefix is optional). Repeatable.",
        AllowMultipleArgumentsPerToken = false,
    };

    public static readonly Option<string> Mode = new("--mode")
    {
        Description = "Placement whose hocon/<mode>.conf is layered in: local (one process).",
        DefaultValueFactory = _ => "local",
    };

    public static readonly Option<DirectoryInfo?> HoconDir = new("--hocon-dir")
    {
        Description = "Folder holding base.conf and the mode files (default: ./hocon if present, else the copy next to the program).",
    };

    public static string ResolveHoconDir(DirectoryInfo? explicitDir)
    {
        if (explicitDir is not null)
        {
            if (!explicitDir.Exists) throw new ConfigException($"--hocon-dir {explicitDir.FullName} does not exist");
            return explicitDir.FullName;
        }
        var local = Path.Combine(Environment.CurrentDirectory, "hocon");
        if (File.Exists(Path.Combine(local, "base.conf"))) return local;
        return Path.Combine(AppContext.BaseDirectory, "hocon");
    }

    /// <summary>The command line's settings with <paramref name="extra"/> --set overrides applied after the user's, every block checked.</summary>
    public static PipelineSettings Load(ParseResult parse, IEnumerable<string> extra)
    {
        var hocon = ResolveHoconDir(parse.GetValue(HoconDir));
        return SettingsValidation.Check(
            PipelineSettings.Load(hocon, parse.GetValue(Mode)!, parse.GetValue(Config)?.FullName, (parse.GetValue(Set) ?? []).Concat(extra)));
    }

    public static PipelineSettings Load(ParseResult parse, string? userFileOverride = null)
    {
        var hocon = ResolveHoconDir(parse.GetValue(HoconDir));
        var user = userFileOverride ?? parse.GetValue(Config)?.FullName;
        return SettingsValidation.Check(PipelineSettings.Load(hocon, parse.GetValue(Mode)!, user, parse.GetValue(Set) ?? []));
    }
}
