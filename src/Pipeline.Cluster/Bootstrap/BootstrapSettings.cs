using System.Globalization;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Cluster.Bootstrap;

/// <summary>How a node finds its contact points: a fixed list in configuration, or the pods listed by the Kubernetes API.</summary>
public enum BootstrapDiscovery
{
    Config,
    KubernetesApi,
}

/// <summary>
/// The <c>pipeline.cluster.bootstrap</c> block (see defaults.conf): Cluster Bootstrap through Akka.Management instead of
/// seed nodes. <see cref="ClusterBootstrapSetup"/> turns it into Akka configuration and starts it.
/// </summary>
public sealed partial record BootstrapSettings(
    bool Enabled,
    BootstrapDiscovery Discovery,
    string ServiceName,
    int RequiredContactPoints,
    int ManagementPort,
    string ManagementHostname,
    IReadOnlyList<(string Host, int Port)> ConfigEndpoints,
    string PodLabelSelector)
{
    public const string Path = "pipeline.cluster.bootstrap";

    /// <summary>Reads and checks the block; a bad value is a <see cref="ConfigException"/> naming its key.</summary>
    public static BootstrapSettings From(Config hocon)
    {
        var block = hocon.HasPath(Path) ? hocon.GetConfig(Path) : Config.Empty;
        var b = new ConfigBlock(block, Path);

        var discovery = b.Parse("discovery", BootstrapDiscovery.Config, s => s switch
        {
            "config" => BootstrapDiscovery.Config,
            "kubernetes-api" => BootstrapDiscovery.KubernetesApi,
            _ => throw new FormatException("expected config | kubernetes-api"),
        });
        var serviceName = b.Parse("service-name", "pipeline", s =>
            DnsLabel().IsMatch(s) ? s : throw new FormatException("expected a DNS label (lower-case letters, digits, '-')"));
        var required = b.Int("required-contact-points", 2);
        if (required < 1) throw new ConfigException($"{Path}.required-contact-points = {required}: expected 1 or more");
        var port = b.Int("management-port", 8558);
        // The advertised management port is the bootstrap contact point: 0 (any) could not be discovered.
        if (port is < 1 or > 65535) throw new ConfigException($"{Path}.management-port = {port}: expected 1..65535");
        var hostname = b.Str("management-hostname", "").Trim();
        var selector = b.Str("pod-label-selector", "app=%s").Trim();
        if (selector.Length == 0) throw new ConfigException($"{Path}.pod-label-selector is empty: expected a label selector such as app=%s");

        return new BootstrapSettings(b.Bool("enabled", false), discovery, serviceName, required, port, hostname,
            Endpoints(block), selector);
    }

    private static List<(string Host, int Port)> Endpoints(Config block)
    {
        const string key = Path + ".config-endpoints";
        if (!block.HasPath("config-endpoints")) return [];
        IList<string> raw;
        try
        {
            raw = block.GetStringList("config-endpoints");
        }
        catch (Exception e) when (e is ConfigurationException or InvalidCastException or FormatException)
        {
            throw new ConfigException($"{key}: expected a list of \"host:port\" strings ({e.Message})");
        }
        var result = new List<(string, int)>();
        foreach (var entry in raw)
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(entry[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
                throw new ConfigException($"{key} holds '{entry}': expected host:port with a port in 1..65535 (the node's management port)");
            result.Add((entry[..colon], port));
        }
        return result;
    }

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
