using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Discovery;
using Akka.Discovery.KubernetesApi;
using Akka.Event;
using k8s;
using k8s.Authentication;
using k8s.Models;

namespace Pipeline.Cluster.Bootstrap;

/// <summary>
/// Cluster Bootstrap's contact points from the Kubernetes API: the running pods matching
/// <c>akka.discovery.kubernetes-api.pod-label-selector</c> in the pod's namespace, each with its container port named as
/// the lookup's port name (<c>management</c>). Configured by Akka.Discovery.KubernetesApi's own keys and settings class.
/// It stands in for that package's <c>KubernetesApiServiceDiscovery</c>: 1.5.73 was compiled against KubernetesClient 17,
/// and the served KubernetesClient (19.0.2; 17 is not served) lacks members it calls (V1PodList's constructor, the
/// <c>ListNamespacedPodAsync</c> overload), so its first lookup throws <see cref="MissingMethodException"/>
/// (KubernetesPodDiscoverySpec keeps that in view).
/// </summary>
public sealed class KubernetesPodDiscovery : ServiceDiscovery
{
    public const string ConfigPath = "akka.discovery.kubernetes-api";

    private readonly KubernetesDiscoverySettings _settings;
    private readonly Func<KubernetesClientConfiguration> _clientConfig;
    private readonly ILoggingAdapter _log;

    /// <summary>Created by Akka.Discovery from <c>akka.discovery.kubernetes-api.class</c>.</summary>
    public KubernetesPodDiscovery(ExtendedActorSystem system)
        : this(system, Settings(system), null)
    {
    }

    /// <summary>Tests pass an API server of their own; null: the in-cluster API server, token and CA.</summary>
    internal KubernetesPodDiscovery(ActorSystem system, KubernetesDiscoverySettings settings, Func<KubernetesClientConfiguration>? clientConfig)
    {
        _settings = settings;
        _clientConfig = clientConfig ?? InCluster;
        _log = Logging.GetLogger(system, typeof(KubernetesPodDiscovery));
    }

    public static KubernetesDiscoverySettings Settings(ActorSystem system) =>
        KubernetesDiscoverySettings.Create(system.Settings.Config.GetConfig(ConfigPath)
            .WithFallback(KubernetesDiscovery.DefaultConfiguration().GetConfig(ConfigPath)));

    public override async Task<Resolved> Lookup(Lookup lookup, TimeSpan resolveTimeout)
    {
        var selector = _settings.PodLabelSelector(lookup.ServiceName);
        var ns = PodNamespace();
        using var timeout = new CancellationTokenSource(resolveTimeout);
        using var client = new Kubernetes(_clientConfig());
        V1PodList pods;
        try
        {
            pods = _settings.AllNamespaces
                ? await client.CoreV1.ListPodForAllNamespacesAsync(labelSelector: selector, cancellationToken: timeout.Token).ConfigureAwait(false)
                : await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"listing pods with label selector '{selector}' in namespace '{ns}' failed: {e.Message}", e);
        }
        var targets = Targets(pods, lookup.PortName, ns, _settings).ToList();
        _log.Info("Kubernetes pods with [{0}] in [{1}]: {2} of {3} are contact points ({4})", selector, ns, targets.Count,
            pods.Items.Count, string.Join(", ", targets.Select(t => $"{t.Host}:{t.Port}")));
        return new Resolved(lookup.ServiceName, targets);
    }

    /// <summary>Running, not deleting pods with an IP; the port is the container port named <paramref name="portName"/> (none: no port).</summary>
    internal static IEnumerable<ResolvedTarget> Targets(V1PodList pods, string? portName, string ns, KubernetesDiscoverySettings settings)
    {
        foreach (var pod in pods.Items ?? [])
        {
            if (pod.Metadata?.DeletionTimestamp is not null) continue;
            if (!string.Equals(pod.Status?.Phase, "Running", StringComparison.OrdinalIgnoreCase)) continue;
            var ip = pod.Status?.PodIP;
            if (string.IsNullOrWhiteSpace(ip) || !IPAddress.TryParse(ip, out var address)) continue;
            if (settings.ContainerName is { } container &&
                (pod.Status?.ContainerStatuses ?? []).Any(s => s.Name == container && s.State?.Waiting is not null)) continue;
            int? port = portName is null
                ? null
                : (pod.Spec?.Containers ?? []).SelectMany(c => c.Ports ?? []).FirstOrDefault(p => p.Name == portName)?.ContainerPort;
            var host = settings.RawIp ? ip : $"{ip.Replace('.', '-')}.{ns}.pod.{settings.PodDomain}";
            yield return new ResolvedTarget(host, port, address);
        }
    }

    private string PodNamespace()
    {
        if (!string.IsNullOrWhiteSpace(_settings.PodNamespace) && _settings.PodNamespace != "<pod-namespace>") return _settings.PodNamespace;
        return File.Exists(_settings.PodNamespacePath) ? File.ReadAllText(_settings.PodNamespacePath).Trim() : "default";
    }

    private KubernetesClientConfiguration InCluster()
    {
        var host = Environment.GetEnvironmentVariable(_settings.ApiServiceHostEnvName);
        var port = Environment.GetEnvironmentVariable(_settings.ApiServicePortEnvName);
        if (string.IsNullOrWhiteSpace(host) || !int.TryParse(port, out var portNumber))
            throw new InvalidOperationException(
                $"{_settings.ApiServiceHostEnvName} / {_settings.ApiServicePortEnvName} are not set: kubernetes-api discovery runs only inside a pod");
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(_settings.ApiCaPath);
        return new KubernetesClientConfiguration
        {
            Host = new UriBuilder(Uri.UriSchemeHttps, host, portNumber).Uri.ToString(),
            TokenProvider = new TokenFileAuth(_settings.ApiTokenPath),
            SslCaCerts = ca,
        };
    }
}
