using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Discovery;
using Akka.Discovery.KubernetesApi;
using k8s;
using Pipeline.Cluster.Bootstrap;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// kubernetes-api discovery against a fake API server on loopback (plain HTTP, one canned pod list): no Kubernetes
/// runs here, so this is as close to a cluster as the pod lister gets. And the reason it exists at all.
/// </summary>
public sealed class KubernetesPodDiscoverySpec
{
    private const string PodList = """
        {"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"1"},"items":[
          {"metadata":{"name":"pipeline-learner-1","namespace":"pipeline"},
           "spec":{"containers":[{"name":"pipeline","ports":[{"name":"remoting","containerPort":4053},{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Running","podIP":"10.0.0.5"}},
          {"metadata":{"name":"pipeline-generator-1","namespace":"pipeline"},
           "spec":{"containers":[{"name":"pipeline","ports":[{"name":"remoting","containerPort":4053},{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Running","podIP":"10.0.0.6"}},
          {"metadata":{"name":"pipeline-generator-2","namespace":"pipeline"},
           "spec":{"containers":[{"name":"pipeline","ports":[{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Pending"}},
          {"metadata":{"name":"pipeline-buffer-old","namespace":"pipeline","deletionTimestamp":"2025-01-01T00:00:00Z"},
           "spec":{"containers":[{"name":"pipeline","ports":[{"name":"management","containerPort":8558}]}]},
           "status":{"phase":"Running","podIP":"10.0.0.7"}}
        ]}
        """;

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        try { return ((IPEndPoint)l.LocalEndpoint).Port; } finally { l.Stop(); }
    }

    [Fact]
    public async Task Running_pods_matching_the_label_selector_become_contact_points_on_their_management_port()
    {
        var port = FreePort();
        using var api = new HttpListener();
        api.Prefixes.Add($"http://127.0.0.1:{port}/");
        api.Start();
        var requests = new ConcurrentQueue<(string Path, string? Selector, string? Auth)>();
        var serving = Task.Run(async () =>
        {
            var context = await api.GetContextAsync();
            requests.Enqueue((context.Request.Url!.AbsolutePath, context.Request.QueryString["labelSelector"], context.Request.Headers["Authorization"]));
            var body = Encoding.UTF8.GetBytes(PodList);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        });

        var system = ActorSystem.Create("k8s-discovery-spec", "akka.actor.provider = local");
        try
        {
            var settings = KubernetesDiscoverySettings.Create(ConfigurationFactory.ParseString("""
                pod-namespace = pipeline
                pod-label-selector = "app.kubernetes.io/name={0}"
                """).WithFallback(KubernetesDiscovery.DefaultConfiguration().GetConfig(KubernetesPodDiscovery.ConfigPath)));
            var discovery = new KubernetesPodDiscovery(system, settings,
                () => new KubernetesClientConfiguration { Host = $"http://127.0.0.1:{port}", AccessToken = "test-token" });

            var resolved = await discovery.Lookup(new Lookup("pipeline", "management", "tcp"), TimeSpan.FromSeconds(10))
                .WaitAsync(TimeSpan.FromSeconds(15));
            await serving.WaitAsync(TimeSpan.FromSeconds(5));

            var (path, selector, auth) = Assert.Single(requests);
            Assert.Equal("/api/v1/namespaces/pipeline/pods", path);
            Assert.Equal("app.kubernetes.io/name=pipeline", selector);
            Assert.Equal("Bearer test-token", auth);
            // The pending pod (no IP yet) and the one being deleted are left out.
            Assert.Equal([("10.0.0.5", (int?)8558), ("10.0.0.6", 8558)], resolved.Addresses.Select(a => (a.Host, a.Port)).OrderBy(a => a.Host));
            Assert.All(resolved.Addresses, a => Assert.Equal(IPAddress.Parse(a.Host), a.Address));
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>
    /// Tripwire: Akka.Discovery.KubernetesApi 1.5.73's own discovery was compiled against KubernetesClient 17; the served
    /// KubernetesClient (19.0.2) lacks members it calls (V1PodList's constructor, the ListNamespacedPodAsync overload). When this starts failing, a fixed
    /// package has arrived and <see cref="KubernetesPodDiscovery"/> can go.
    /// </summary>
    [Fact]
    public async Task The_packaged_KubernetesApiServiceDiscovery_cannot_call_the_served_KubernetesClient()
    {
        var system = ActorSystem.Create("k8s-packaged-spec",
            ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(KubernetesDiscovery.DefaultConfiguration()));
        try
        {
            var packaged = new KubernetesApiServiceDiscovery((ExtendedActorSystem)system);
            var e = await Record.ExceptionAsync(() => packaged.Lookup(new Lookup("pipeline", "management", "tcp"), TimeSpan.FromSeconds(3)));
            Assert.IsType<MissingMethodException>(e);
            Assert.Contains("k8s.", e.Message); // a KubernetesClient member (V1PodList's constructor is the first one met)
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
