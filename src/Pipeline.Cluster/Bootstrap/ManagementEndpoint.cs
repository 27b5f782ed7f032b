using System.Collections.Immutable;
using System.Net;
using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Management;
using Akka.Management.Dsl;
using Newtonsoft.Json;
using static Akka.Management.Cluster.Bootstrap.ContactPoint.HttpBootstrapJsonProtocol;
using AkkaClusterBootstrap = Akka.Management.Cluster.Bootstrap.ClusterBootstrap;

namespace Pipeline.Cluster.Bootstrap;

/// <summary>
/// The node's Akka.Management HTTP endpoint (<c>akka.management.http.*</c>), served with <see cref="HttpListener"/>:
/// <c>GET /bootstrap/seed-nodes</c> (Cluster Bootstrap's contact-point protocol, the same JSON types and rules as
/// Akka.Management's own route), <c>GET /ready</c> and <c>GET /alive</c> (<see cref="ClusterHealth"/>).
/// Why not <c>AkkaManagement.Start()</c>: Akka.Management 1.5.73 serves through Akka.Http.Shim, built against Ceen.Httpd
/// 0.9.9, and the only served Ceen.Httpd (0.9.10) changed <c>HttpServer.ListenAsync</c>, so binding throws
/// <see cref="MissingMethodException"/> (ManagementEndpointSpec keeps that in view). Cluster Bootstrap itself (discovery,
/// probing with HttpClient, the join decision) is Akka.Management's.
/// </summary>
public sealed class ManagementEndpoint : IExtension
{
    public const string ReadyPath = "/ready";
    public const string AlivePath = "/alive";
    public const string SeedNodesPath = "/bootstrap/seed-nodes";
    private const int MaxSeedNodesToExpose = 5; // Akka.Management's ContactPointSettings.MaxSeedNodesToExpose

    private readonly ExtendedActorSystem _system;
    private readonly Http _settings;
    private readonly object _gate = new();
    private HttpListener? _listener;
    private Uri? _selfBaseUri;

    public ManagementEndpoint(ExtendedActorSystem system)
    {
        _system = system;
        _settings = AkkaManagementSettings.Create(system.Settings.Config.WithFallback(AkkaManagementProvider.DefaultConfiguration())).Http;
    }

    public static ManagementEndpoint Get(ActorSystem system) => system.WithExtension<ManagementEndpoint, ManagementEndpointProvider>();

    /// <summary>
    /// Binds the endpoint (once; later calls return the same address) and hands Cluster Bootstrap its self contact point,
    /// as <c>AkkaManagement.Start()</c> would. Returns the advertised base address, e.g. <c>http://10.0.0.5:8558/</c>.
    /// </summary>
    /// <summary>
    /// Starts an <see cref="HttpListener"/> on the management port. On Linux the managed listener has a start-up race
    /// (dotnet/corefx#35191): a client that connects while it starts (another node's bootstrap probing this contact point)
    /// makes Start throw ArgumentNullException and leaves the half-made listener's socket bound. That attempt is
    /// retried, after a collection has closed the orphaned socket (so the port binds again), up to 5 times.
    /// </summary>
    private HttpListener Bind(string prefixHost, string bind)
    {
        const int attempts = 5;
        var raced = false;
        for (var attempt = 1; ; attempt++)
        {
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://{prefixHost}:{_settings.EffectiveBindPort}/");
            try
            {
                listener.Start();
                return listener;
            }
            catch (Exception e) when (attempt < attempts && (e is ArgumentNullException || (raced && e is HttpListenerException)))
            {
                raced = true;
                listener.Close();
                _system.Log.Warning("management endpoint: HttpListener start-up race on port {0} (attempt {1} of {2}); retrying", _settings.EffectiveBindPort, attempt, attempts);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Thread.Sleep(100 * attempt);
            }
            catch (HttpListenerException e)
            {
                throw new InvalidOperationException(
                    $"cannot bind the management endpoint to {bind}:{_settings.EffectiveBindPort} (akka.management.http.bind-hostname / bind-port): {e.Message}", e);
            }
        }
    }

    public Uri Start()
    {
        lock (_gate)
        {
            if (_selfBaseUri is not null) return _selfBaseUri;
            var bind = _settings.EffectiveBindHostname;
            var prefixHost = bind is "0.0.0.0" or "::" or "*" or "+" ? "*" : bind.Contains(':') ? $"[{bind}]" : bind;
            var listener = Bind(prefixHost, bind);
            _listener = listener;
            var host = _settings.Hostname.Contains(':') ? $"[{_settings.Hostname}]" : _settings.Hostname;
            _selfBaseUri = new Uri($"http://{host}:{_settings.Port}/");
            _ = Task.Run(() => ServeAsync(listener));
            CoordinatedShutdown.Get(_system).AddTask(CoordinatedShutdown.PhaseBeforeClusterShutdown, "pipeline-management-endpoint-stop", () =>
            {
                Stop();
                return Task.FromResult(Akka.Done.Instance);
            });
            _system.Log.Info("Management endpoint bound to {0}:{1}, advertised as {2}", bind, _settings.EffectiveBindPort, _selfBaseUri);
            // The bootstrap route provider's hook: sets ClusterBootstrap's self contact point (needed by the join decision).
            AkkaClusterBootstrap.Get(_system).Routes(ManagementRouteProviderSettings.Create(_selfBaseUri, _settings.RouteProvidersReadOnly));
            return _selfBaseUri;
        }
    }

    public void Stop()
    {
        lock (_gate)
        {
            _listener?.Close();
            _listener = null;
        }
    }

    private async Task ServeAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // closed
            }
            _ = Task.Run(() => RespondAsync(context));
        }
    }

    private async Task RespondAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var (status, contentType, body) = context.Request.HttpMethod != "GET"
                ? (HttpStatusCode.MethodNotAllowed, "text/plain", "GET only\n")
                : context.Request.Url?.AbsolutePath.TrimEnd('/') switch
                {
                    ReadyPath => Health(ClusterHealth.Ready(_system)),
                    AlivePath => Health(ClusterHealth.Alive(_system)),
                    SeedNodesPath => SeedNodes(),
                    _ => (HttpStatusCode.NotFound, "text/plain", "not found\n"),
                };
            var bytes = Encoding.UTF8.GetBytes(body);
            response.StatusCode = (int)status;
            response.ContentType = contentType + "; charset=utf-8";
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _system.Log.Warning("Management endpoint: answering {0} failed: {1}", context.Request.Url, e.Message);
            try { response.StatusCode = (int)HttpStatusCode.InternalServerError; } catch (InvalidOperationException) { }
        }
        finally
        {
            try { response.Close(); } catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { }
        }
    }

    private static (HttpStatusCode, string, string) Health((bool Ok, string Reason) check) =>
        (check.Ok ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable, "text/plain", check.Reason + "\n");

    /// <summary>
    /// As Akka.Management's HttpClusterBootstrapRoutes: this node's address and up to 5 reachable members. A node that has
    /// not joined yet answers too, with no members (its own status reads Removed until then): that answer from every
    /// contact point is what lets the lowest-addressed node form the cluster. A node on its way out answers 503.
    /// </summary>
    private (HttpStatusCode, string, string) SeedNodes()
    {
        var cluster = Akka.Cluster.Cluster.Get(_system);
        if (cluster.IsTerminated || cluster.SelfMember.Status is MemberStatus.Down or MemberStatus.Exiting or MemberStatus.Leaving)
            return (HttpStatusCode.ServiceUnavailable, "text/plain", $"member status {cluster.SelfMember.Status}, leaving\n");
        var state = cluster.State;
        var members = state.Members
            .Where(m => !state.Unreachable.Contains(m))
            .Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining)
            .Take(MaxSeedNodesToExpose)
            .Select(m => new ClusterMember(m.UniqueAddress.Address, m.UniqueAddress.Uid, m.Status, m.Roles))
            .ToImmutableList();
        return (HttpStatusCode.OK, "application/json", JsonConvert.SerializeObject(new SeedNodes(cluster.SelfMember.UniqueAddress.Address, members)));
    }
}

public sealed class ManagementEndpointProvider : ExtensionIdProvider<ManagementEndpoint>
{
    public override ManagementEndpoint CreateExtension(ExtendedActorSystem system) => new(system);
}
