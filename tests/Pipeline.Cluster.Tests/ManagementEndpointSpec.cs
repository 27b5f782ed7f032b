using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Akka.Management.Cluster.Bootstrap.ContactPoint;
using Akka.Management.Dsl;
using Newtonsoft.Json;
using Pipeline.Cluster.Bootstrap;

namespace Pipeline.Cluster.Tests;

/// <summary>The management endpoint on its own: one cluster node on loopback that never joins.</summary>
public sealed class ManagementEndpointSpec
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        try { return ((IPEndPoint)l.LocalEndpoint).Port; } finally { l.Stop(); }
    }

    private static ActorSystem Node(int managementPort, string extra = "")
    {
        var settings = BootstrapSettings.From(ConfigurationFactory.ParseString(
            $"pipeline.cluster.bootstrap {{ management-port = {managementPort}, config-endpoints = [\"127.0.0.1:{managementPort}\"], required-contact-points = 1 }}"));
        var node = ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = WARNING
            """ + extra);
        return ActorSystem.Create("endpoint-spec", ClusterBootstrapSetup.Apply(node, settings));
    }

    /// <summary>
    /// A node with its management endpoint started on a free port. The port is free when picked but not reserved: the
    /// node's own remoting (port 0) can be given the same one by the OS before the endpoint binds (seen once in CI), so
    /// a bind that finds it taken is tried again on another port, at most 3 times.
    /// </summary>
    private static async Task<(ActorSystem System, int Port, Uri Uri)> StartedNode()
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            var system = Node(port);
            try
            {
                return (system, port, ManagementEndpoint.Get(system).Start());
            }
            catch (InvalidOperationException e) when (attempt < 3 && e.InnerException is HttpListenerException)
            {
                await system.Terminate().WaitAsync(TimeSpan.FromSeconds(15));
            }
        }
    }

    [Fact]
    public async Task A_node_that_never_joins_is_alive_not_ready_and_serves_the_bootstrap_contact_point()
    {
        var (system, port, uri) = await StartedNode();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            Assert.Equal(new Uri($"http://127.0.0.1:{port}/"), uri);
            Assert.Same(uri, ManagementEndpoint.Get(system).Start()); // once per system

            using (var ready = await http.GetAsync($"http://127.0.0.1:{port}/ready"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                Assert.Contains("not Up", await ready.Content.ReadAsStringAsync());
            }
            using (var alive = await http.GetAsync($"http://127.0.0.1:{port}/alive"))
                Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
            using (var missing = await http.GetAsync($"http://127.0.0.1:{port}/nothing-here"))
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            using (var post = await http.PostAsync($"http://127.0.0.1:{port}/ready", new StringContent("")))
                Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
            // Nothing changes state: every method but GET is refused on every route, and Akka.Management's cluster-http
            // routes that down or remove members (PUT/DELETE /cluster/members/{address}) do not exist.
            var self = Uri.EscapeDataString(Akka.Cluster.Cluster.Get(system).SelfAddress.ToString());
            foreach (var path in new[] { "/ready", "/alive", "/bootstrap/seed-nodes", $"/cluster/members/{self}", "/cluster/members" })
                foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch })
                {
                    using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{port}{path}") { Content = new StringContent("operation=Down") };
                    using var answer = await http.SendAsync(request);
                    Assert.True(answer.StatusCode == HttpStatusCode.MethodNotAllowed, $"{method} {path}: {answer.StatusCode}");
                }
            using (var members = await http.GetAsync($"http://127.0.0.1:{port}/cluster/members"))
                Assert.Equal(HttpStatusCode.NotFound, members.StatusCode);
            Assert.Equal(Akka.Cluster.MemberStatus.Removed, Akka.Cluster.Cluster.Get(system).SelfMember.Status);

            // Read the way Akka.Management's contact-point probe reads it.
            using var seeds = await http.GetAsync($"http://127.0.0.1:{port}/bootstrap/seed-nodes");
            Assert.Equal(HttpStatusCode.OK, seeds.StatusCode);
            var body = JsonConvert.DeserializeObject<HttpBootstrapJsonProtocol.SeedNodes>(await seeds.Content.ReadAsStringAsync());
            Assert.Equal(Akka.Cluster.Cluster.Get(system).SelfAddress, body!.SelfNode);
            Assert.Empty(body.Nodes);
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(15));
        }
        // Coordinated shutdown closed the listener.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/alive"));
    }

    /// <summary>
    /// Tripwire: Akka.Management 1.5.73's own HTTP server (Akka.Http.Shim over Ceen.Httpd 0.9.9) cannot bind with the
    /// served Ceen.Httpd 0.9.10. When this starts failing, a fixed package has arrived and ManagementEndpoint can go.
    /// </summary>
    [Fact]
    public async Task The_packaged_AkkaManagement_http_server_cannot_bind_with_the_served_Ceen_Httpd()
    {
        // Its shutdown task waits on the binding that never completes: keep that phase short.
        var system = Node(FreePort(), "\nakka.coordinated-shutdown.phases.before-cluster-shutdown.timeout = 1s");
        try
        {
            var e = await Record.ExceptionAsync(() => AkkaManagement.Get(system).Start());
            Assert.IsType<InvalidOperationException>(e);
            var missing = Assert.IsType<MissingMethodException>(e.InnerException);
            Assert.Contains("Ceen.Httpd.HttpServer.ListenAsync", missing.Message);
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(15));
        }
    }
}
