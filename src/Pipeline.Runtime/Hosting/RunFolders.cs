using System.Globalization;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// Creates a new run's folder so that no two runs ever share one: a name already taken gets a suffix (-2, -3, ...).
/// Ownership is a marker file created with <see cref="FileMode.CreateNew"/> (atomic on every file system), since
/// <see cref="Directory.CreateDirectory(string)"/> succeeds for a folder that already exists.
/// </summary>
public static class RunFolders
{
    /// <summary>The marker a new run creates first in its folder: whoever creates it owns the folder.</summary>
    public const string OwnerFile = ".run-owner";

    private const int MaxSuffix = 10_000;

    /// <summary>Creates and claims <paramref name="root"/>/<paramref name="name"/>, or the first free name-N; returns its full path.</summary>
    public static string CreateExclusive(string root, string name)
    {
        Directory.CreateDirectory(root);
        for (var n = 1; n <= MaxSuffix; n++)
        {
            var candidate = Path.GetFullPath(Path.Combine(root, n == 1 ? name : name + "-" + n.ToString(CultureInfo.InvariantCulture)));
            // A folder that exists before we look belongs to an earlier run (with or without a marker).
            if (Directory.Exists(candidate)) continue;
            Directory.CreateDirectory(candidate);
            var marker = Path.Combine(candidate, OwnerFile);
            try
            {
                using var claim = new FileStream(marker, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                claim.Write(System.Text.Encoding.UTF8.GetBytes(
                    $"pid {Environment.ProcessId} on {Environment.MachineName} at {DateTimeOffset.UtcNow:O}\n"));
                return candidate;
            }
            catch (IOException) when (File.Exists(marker))
            {
                // Another run created the same folder a moment ago and claimed it first: try the next name.
            }
        }
        throw new IOException($"could not create a run folder named {name} under {root}: {name}-2 ... {name}-{MaxSuffix} are all taken");
    }
}
