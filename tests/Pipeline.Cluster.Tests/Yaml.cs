using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Cluster.Tests;

/// <summary>Small helpers over YamlDotNet's representation model: merge keys (<c>&lt;&lt;: *anchor</c>), paths, secret scanning.</summary>
internal static partial class Yaml
{
    public static IReadOnlyList<YamlDocument> LoadAll(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Where(d => d.RootNode is not YamlScalarNode { Value: null or "" }).ToList();
    }

    /// <summary>The entries of a mapping with YAML merge keys applied (explicit keys win over merged ones).</summary>
    public static IReadOnlyDictionary<string, YamlNode> Entries(YamlNode node)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        if (node is not YamlMappingNode map) return result;
        foreach (var (k, v) in map.Children)
        {
            if (k is YamlScalarNode { Value: "<<" })
            {
                var sources = v is YamlSequenceNode seq ? seq.Children : [v];
                foreach (var source in sources)
                    foreach (var (mk, mv) in Entries(source))
                        result.TryAdd(mk, mv);
            }
        }
        foreach (var (k, v) in map.Children)
            if (k is YamlScalarNode { Value: { } key } && key != "<<") result[key] = v;
        return result;
    }

    /// <summary>The node at a dotted path of mapping keys (merge keys applied), or null.</summary>
    public static YamlNode? At(YamlNode node, string path)
    {
        YamlNode? current = node;
        foreach (var part in path.Split('.'))
        {
            if (current is null || !Entries(current).TryGetValue(part, out current)) return null;
        }
        return current;
    }

    public static string? Scalar(YamlNode node, string path) => (At(node, path) as YamlScalarNode)?.Value;

    public static IReadOnlyList<YamlNode> Items(YamlNode? node) => node is YamlSequenceNode s ? s.Children.ToList() : [];

    /// <summary>A command as words: a sequence of scalars, or a string split on spaces.</summary>
    public static IReadOnlyList<string> Words(YamlNode? node) => node switch
    {
        YamlSequenceNode s => s.Children.OfType<YamlScalarNode>().Select(x => x.Value ?? "").ToList(),
        YamlScalarNode { Value: { } v } => v.Split(' ', StringSplitOptions.RemoveEmptyEntries),
        _ => [],
    };

    // ---- secrets ----

    [GeneratedRegex("(?i)(api[_-]?key|secret|token|password|passwd|credential)")]
    private static partial Regex SecretName();

    // ${VAR}, ${VAR:-} (an empty default) or $(VAR): a reference to the environment, not a value.
    [GeneratedRegex(@"^(\$\{[A-Za-z_][A-Za-z0-9_]*(:?-)?\}|\$\([A-Za-z_][A-Za-z0-9_]*\))$")]
    private static partial Regex Reference();

    [GeneratedRegex(@"(\bsk-[A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,})")]
    private static partial Regex KeyShape();

    /// <summary>Places in a YAML document that hold a literal credential instead of a reference to one.</summary>
    public static IReadOnlyList<string> LiteralSecrets(YamlNode root)
    {
        var found = new List<string>();
        Scan(root, "$", found);
        if (Scalar(root, "kind") == "Secret" &&
            (Entries(root).TryGetValue("data", out var data) || Entries(root).TryGetValue("stringData", out data)) &&
            data is YamlMappingNode { Children.Count: > 0 })
            found.Add("$: a Secret with data; create it with kubectl from the environment instead of committing it");
        return found;
    }

    // A setting whose name ends in -env (api-key-env, certificate-password-env) holds the NAME of a variable, not a secret.
    [GeneratedRegex(@"(?i)-env$")]
    private static partial Regex NamesVariable();

    [GeneratedRegex("^[A-Z_][A-Z0-9_]*$")]
    private static partial Regex VariableName();

    private static bool IsLiteral(string? value) =>
        !string.IsNullOrWhiteSpace(value) && !Reference().IsMatch(value.Trim()) && value is not ("true" or "false");

    private static bool IsLiteral(string name, string? value) =>
        IsLiteral(value) && !(NamesVariable().IsMatch(name) && VariableName().IsMatch(value!.Trim()));

    private static void Scan(YamlNode node, string path, List<string> found)
    {
        switch (node)
        {
            case YamlScalarNode { Value: { } v }:
                if (KeyShape().IsMatch(v)) found.Add($"{path}: looks like a credential");
                // Compose list form: - NAME=value
                var eq = v.IndexOf('=');
                if (eq > 0 && SecretName().IsMatch(v[..eq]) && !v[..eq].Contains(' ') && IsLiteral(v[..eq], v[(eq + 1)..]))
                    found.Add($"{path}: {v[..eq]} has a literal value");
                break;
            case YamlSequenceNode seq:
                for (var i = 0; i < seq.Children.Count; i++) Scan(seq.Children[i], $"{path}[{i}]", found);
                break;
            case YamlMappingNode map:
                var entries = Entries(map);
                // Kubernetes env entry: { name: X_API_KEY, value: literal }
                if (entries.TryGetValue("name", out var n) && n is YamlScalarNode { Value: { } name } && SecretName().IsMatch(name)
                    && entries.TryGetValue("value", out var value) && value is YamlScalarNode { Value: var literal } && IsLiteral(literal))
                    found.Add($"{path}: env {name} has a literal value");
                foreach (var (key, child) in entries)
                {
                    // secretName (a Secret volume) names a Secret object, like secretKeyRef.name: a reference, not a value.
                    if (key != "secretName" && SecretName().IsMatch(key) && child is YamlScalarNode { Value: var s } && IsLiteral(key, s))
                        found.Add($"{path}.{key}: literal value");
                    Scan(child, $"{path}.{key}", found);
                }
                break;
        }
    }
}
