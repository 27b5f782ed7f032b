using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Discovery;
using Akka.Management.Dsl;
using Pipeline.Core.Configuration;
using AkkaClusterBootstrap = Akka.Management.Cluster.Bootstrap.ClusterBootstrap;

namespace Pipeline.Cluster.Bootstrap;

/// <summary>
/// Cluster Bootstrap instead of seed nodes: turns <see cref="BootstrapSettings"/> (<c>pipeline.cluster.bootstrap</c>)
/// into Akka.Management / Akka.Discovery configuration, and starts the management HTTP endpoint (bootstrap contact
/// point, <c>/ready</c>, <c>/alive</c>) and Akka.Management's Cluster Bootstrap, which joins (or, on the lowest-addressed
/// node, forms) the cluster once <c>required-contact-points</c> nodes are discovered and answer.
/// </summary>
public static class ClusterBootstrapSetup
{
    /// <summary>The container port name kubernetes-api discovery looks up on each pod (deploy/k8s names it so).</summary>
    public const string ManagementPortName = "management";

    /// <summary><paramref name="nodeConfig"/> (a node's full configuration) with the bootstrap configuration on top.</summary>
    public static Config Apply(Config nodeConfig, BootstrapSettings settings)
    {
        if (nodeConfig.HasPath("akka.cluster.seed-nodes") && nodeConfig.GetStringList("akka.cluster.seed-nodes").Count > 0)
            throw new ConfigException(
                $"akka.cluster.seed-nodes is set and {BootstrapSettings.Path} is in use: Cluster Bootstrap ignores itself when seed nodes are configured; use one or the other");
        var remoteHost = nodeConfig.GetString("akka.remote.dot-netty.tcp.hostname", "");
        var publicHost = nodeConfig.GetString("akka.remote.dot-netty.tcp.public-hostname", "");
        var advertised = settings.ManagementHostname is { Length: > 0 } h ? h : publicHost is { Length: > 0 } p ? p : remoteHost;
        if (advertised is "" or "0.0.0.0" or "::")
            throw new ConfigException(
                $"{BootstrapSettings.Path}.management-hostname is empty and remoting advertises no address ('{advertised}'): set it, or akka.remote.dot-netty.tcp.public-hostname");
        // Remoting bound to every interface: bind management there too, and advertise the reachable address.
        var bind = remoteHost is "0.0.0.0" or "::" ? remoteHost : advertised;
        return AkkaConfig(settings, advertised, bind).WithFallback(nodeConfig);
    }

    /// <summary>The Akka configuration for bootstrap, Akka.Management advertised as <paramref name="hostname"/>.</summary>
    public static Config AkkaConfig(BootstrapSettings s, string hostname, string? bindHostname = null)
    {
        const string p = BootstrapSettings.Path;
        var discovery = s.Discovery switch
        {
            BootstrapDiscovery.Config => ConfigDiscovery(s),
            _ => $$"""
                akka.discovery.method = kubernetes-api
                akka.discovery.kubernetes-api {
                  class = "{{typeof(KubernetesPodDiscovery).FullName}}, {{typeof(KubernetesPodDiscovery).Assembly.GetName().Name}}"
                  pod-label-selector = {{Quote(s.PodLabelSelector.Replace("%s", "{0}", StringComparison.Ordinal))}}
                }
                # Each pod's management port: the container port with this name.
                akka.management.cluster.bootstrap.contact-point-discovery.port-name = {{ManagementPortName}}
                """,
        };
        var text = $$"""
            akka.management.http {
              hostname = {{Quote(hostname)}}
              port = {{s.ManagementPort.ToString(CultureInfo.InvariantCulture)}}
              bind-hostname = {{Quote(bindHostname ?? hostname)}}
              bind-port = {{s.ManagementPort.ToString(CultureInfo.InvariantCulture)}}
            }
            akka.management.cluster.bootstrap.contact-point-discovery {
              service-name = {{Quote(s.ServiceName)}}
              discovery-method = akka.discovery
              required-contact-point-nr = {{s.RequiredContactPoints.ToString(CultureInfo.InvariantCulture)}}
            }
            {{discovery}}
            """;
        try
        {
            return ConfigurationFactory.ParseString(text)
                .WithFallback(AkkaManagementProvider.DefaultConfiguration())
                .WithFallback(DiscoveryProvider.DefaultConfiguration());
        }
        catch (Exception e) when (e is not ConfigException)
        {
            throw new ConfigException($"{p}: the bootstrap configuration does not parse ({e.Message})");
        }
    }

    private static string ConfigDiscovery(BootstrapSettings s)
    {
        const string p = BootstrapSettings.Path;
        if (s.ConfigEndpoints.Count == 0)
            throw new ConfigException($"{p}.config-endpoints is empty: config discovery needs the host:port of every node's Akka.Management");
        if (s.ConfigEndpoints.Count < s.RequiredContactPoints)
            throw new ConfigException(
                $"{p}.config-endpoints lists {s.ConfigEndpoints.Count} node(s), fewer than {p}.required-contact-points = {s.RequiredContactPoints}: bootstrap could never start");
        var endpoints = string.Join(", ", s.ConfigEndpoints.Select(e => Quote($"{e.Host}:{e.Port.ToString(CultureInfo.InvariantCulture)}")));
        return $$"""
            akka.discovery.method = config
            akka.discovery.config.services.{{Quote(s.ServiceName)}}.endpoints = [{{endpoints}}]
            # The list holds exact management endpoints, several per host on loopback: keep all of them (by default
            # bootstrap keeps only this node's own management port among endpoints that share a host).
            akka.management.cluster.bootstrap.contact-point.filter-on-fallback-port = off
            """;
    }

    /// <summary>
    /// Starts the management endpoint (<see cref="ManagementEndpoint"/>: bootstrap contact point, <c>/ready</c>,
    /// <c>/alive</c>) and then Cluster Bootstrap on <paramref name="system"/>, created with <see cref="Apply"/>'s
    /// configuration. Returns the endpoint's advertised base address. Joining happens afterwards, in the background:
    /// watch <c>Cluster.RegisterOnMemberUp</c> or <c>/ready</c>.
    /// </summary>
    public static async Task<Uri> StartAsync(ActorSystem system)
    {
        var uri = ManagementEndpoint.Get(system).Start();
        await AkkaClusterBootstrap.Get(system).Start().ConfigureAwait(false);
        return uri;
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
