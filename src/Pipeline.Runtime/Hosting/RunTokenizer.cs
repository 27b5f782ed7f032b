using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Runtime.Hosting;

/// <summary>The run's one tokenizer, in its run folder (<see cref="LocalRun.TokenizerFolder"/>), shared by every placement.</summary>
public static class RunTokenizer
{
    public static string Folder(string runDir) => Path.Combine(runDir, LocalRun.TokenizerFolder);

    /// <summary>Whether the run folder holds a saved tokenizer.</summary>
    public static bool Exists(string runDir) => Directory.Exists(Folder(runDir)) && Directory.GetFiles(Folder(runDir)).Length > 0;

    public static IPolicyTokenizer Load(PipelineSettings settings, string runDir) => PolicyFactory.LoadTokenizer(settings.Policy, Folder(runDir));

    /// <summary>
    /// The saved tokenizer when <paramref name="reuse"/> and the folder has one; else a new one, saved atomically (into a
    /// temporary folder, then moved) so that two learner nodes starting together cannot interleave their files.
    /// </summary>
    public static IPolicyTokenizer Obtain(PipelineSettings settings, IPipelineTask task, string runDir, bool reuse)
    {
        var dir = Folder(runDir);
        if (reuse && Exists(runDir)) return Load(settings, runDir);
        var tokenizer = PolicyFactory.CreateTokenizer(settings.Policy, task);
        var tmp = Path.Combine(runDir, $"tokenizer.tmp-{Guid.NewGuid():N}");
        tokenizer.Save(tmp);
        if (!reuse && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);  // a fresh run replaces what is there
        try
        {
            Directory.Move(tmp, dir);
            return tokenizer;
        }
        catch (IOException)
        {
            Directory.Delete(tmp, recursive: true);  // another learner node saved it first: use that one
            return Load(settings, runDir);
        }
    }
}
