using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Discovery;
using Pipeline.Cluster.Bootstrap;
using Pipeline.Core.Configuration;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// Cluster Bootstrap on loopback: three ActorSystems in this process (remoting port 0) with config discovery listing
/// their three Akka.Management endpoints and no seed nodes form one cluster; <c>/ready</c> answers 503 until a node is
/// an Up member and 200 after. Plus the <c>pipeline.cluster.bootstrap</c> block's checks and the kubernetes-api wiring.
/// </summary>
public sealed class ClusterBootstrapSpec(ITestOutputHelper output)
{
    private static readonly TimeSpan FormDeadline = TimeSpan.FromSeconds(40);

    /// <summary>Distinct free TCP ports on loopback: all listeners stay open until every port is picked.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    /// <summary>A node's configuration the way <c>pipeline node</c> builds it: the layered HOCON (base + cluster.conf) with --set overrides.</summary>
    private static (Config Config, BootstrapSettings Bootstrap) Node(int managementPort, int[] allPorts, int required)
    {
        var endpoints = string.Join(", ", allPorts.Select(p => $"\"127.0.0.1:{p}\""));
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null,
        [
            "akka.remote.dot-netty.tcp.port = 0",
            "akka.loglevel = WARNING",
            "pipeline.cluster.bootstrap.enabled = on",
            "pipeline.cluster.bootstrap.discovery = config",
            $"pipeline.cluster.bootstrap.required-contact-points = {required}",
            $"pipeline.cluster.bootstrap.management-port = {managementPort}",
            $"pipeline.cluster.bootstrap.config-endpoints = [{endpoints}]",
            // Faster than the defaults (stable-margin 5s, probe-interval 5s), so the spec fits in seconds on 2 cores.
            "akka.management.cluster.bootstrap.contact-point-discovery.stable-margin = 1s",
            "akka.management.cluster.bootstrap.contact-point-discovery.interval = 300ms",
            "akka.management.cluster.bootstrap.contact-point.probe-interval = 500ms",
            "akka.cluster.split-brain-resolver.stable-after = 5s",
        ]);
        var bootstrap = BootstrapSettings.From(settings.Hocon);
        return (ClusterBootstrapSetup.Apply(settings.Hocon, bootstrap), bootstrap);
    }

    private static async Task<(HttpStatusCode Status, string Body)> Get(HttpClient http, int port, string path)
    {
        using var response = await http.GetAsync($"http://127.0.0.1:{port}{path}");
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static string Members(ActorSystem s) =>
        string.Join(", ", AkkaCluster.Get(s).State.Members.Select(m => $"{m.Address.Port}:{m.Status}"));

    [Fact]
    public async Task Three_nodes_with_config_discovery_and_no_seed_nodes_form_one_cluster_and_are_ready_only_once_Up()
    {
        var clock = Stopwatch.StartNew();
        var ports = FreePorts(3);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var systems = new List<ActorSystem>();
        try
        {
            foreach (var port in ports)
            {
                var (config, bootstrap) = Node(port, ports, required: 3);
                Assert.True(bootstrap.Enabled);
                Assert.Empty(config.GetStringList("akka.cluster.seed-nodes"));
                systems.Add(ActorSystem.Create("bootstrap-spec", config));
            }

            // The management endpoint alone: it answers, but no node has joined anything, so none is ready.
            foreach (var system in systems) ManagementEndpoint.Get(system).Start();
            foreach (var (system, port) in systems.Zip(ports))
            {
                var ready = await Get(http, port, "/ready");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Status);
                Assert.Contains("not Up", ready.Body);
                Assert.NotEqual(MemberStatus.Up, AkkaCluster.Get(system).SelfMember.Status);
                Assert.Equal(HttpStatusCode.OK, (await Get(http, port, "/alive")).Status);
            }

            // Cluster Bootstrap: discovery lists the three endpoints, the lowest one forms the cluster, the others join it.
            foreach (var (system, port) in systems.Zip(ports))
            {
                var uri = await ClusterBootstrapSetup.StartAsync(system).WaitAsync(TimeSpan.FromSeconds(15));
                Assert.Equal(port, uri.Port);
                Assert.Equal("127.0.0.1", uri.Host);
            }

            var until = DateTime.UtcNow + FormDeadline;
            while (!systems.All(s => AkkaCluster.Get(s).State.Members.Count(m => m.Status == MemberStatus.Up) == 3))
            {
                Assert.True(DateTime.UtcNow < until,
                    $"not all three Up within {FormDeadline.TotalSeconds} s: " + string.Join(" | ", systems.Select(Members)));
                await Task.Delay(200);
            }
            output.WriteLine($"three nodes Up after {clock.Elapsed.TotalSeconds:F1} s: {Members(systems[0])}");

            // One cluster: every node sees the same three addresses, its own among them.
            var addresses = systems.Select(s => AkkaCluster.Get(s).SelfAddress).OrderBy(a => a.Port).ToList();
            foreach (var system in systems)
                Assert.Equal(addresses, AkkaCluster.Get(system).State.Members.Select(m => m.Address).OrderBy(a => a.Port).ToList());

            foreach (var port in ports)
            {
                var readyUntil = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                var ready = await Get(http, port, "/ready");
                while (ready.Status != HttpStatusCode.OK && DateTime.UtcNow < readyUntil)
                {
                    await Task.Delay(200);
                    ready = await Get(http, port, "/ready");
                }
                Assert.Equal(HttpStatusCode.OK, ready.Status);
                Assert.Contains("Up member", ready.Body);
                Assert.Equal(HttpStatusCode.OK, (await Get(http, port, "/alive")).Status);
            }
            output.WriteLine($"done after {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            await Task.WhenAll(systems.Select(s => s.Terminate())).WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public void The_bootstrap_block_is_off_by_default_and_every_key_has_a_default()
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, []);
        var bootstrap = BootstrapSettings.From(settings.Hocon);
        Assert.Empty(bootstrap.ConfigEndpoints);
        Assert.Equal(new BootstrapSettings(false, BootstrapDiscovery.Config, "pipeline", 2, 8558, "", bootstrap.ConfigEndpoints, "app=%s"), bootstrap);
    }

    [Fact]
    public void A_misspelt_bootstrap_key_is_refused_with_a_suggestion()
    {
        var e = Assert.Throws<ConfigException>(() =>
            PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, ["pipeline.cluster.bootstrap.required-contact-point = 3"]));
        Assert.Contains("pipeline.cluster.bootstrap.required-contact-points", e.Message);
    }

    [Theory]
    [InlineData("discovery = dns", "pipeline.cluster.bootstrap.discovery")]
    [InlineData("service-name = \"Pipe_Line\"", "pipeline.cluster.bootstrap.service-name")]
    [InlineData("required-contact-points = 0", "pipeline.cluster.bootstrap.required-contact-points")]
    [InlineData("required-contact-points = three", "pipeline.cluster.bootstrap.required-contact-points")]
    [InlineData("management-port = 0", "pipeline.cluster.bootstrap.management-port")]
    [InlineData("management-port = 70000", "pipeline.cluster.bootstrap.management-port")]
    [InlineData("config-endpoints = [\"127.0.0.1\"]", "pipeline.cluster.bootstrap.config-endpoints")]
    [InlineData("config-endpoints = [\"127.0.0.1:http\"]", "pipeline.cluster.bootstrap.config-endpoints")]
    [InlineData("enabled = maybe", "pipeline.cluster.bootstrap.enabled")]
    [InlineData("pod-label-selector = \"\"", "pipeline.cluster.bootstrap.pod-label-selector")]
    public void A_bad_value_is_a_config_error_naming_its_key(string assignment, string key)
    {
        var hocon = ConfigurationFactory.ParseString($"pipeline.cluster.bootstrap {{ {assignment} }}");
        var e = Assert.Throws<ConfigException>(() => BootstrapSettings.From(hocon));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void Config_discovery_needs_at_least_required_contact_points_endpoints()
    {
        var node = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.hostname = \"127.0.0.1\"");
        var few = BootstrapSettings.From(ConfigurationFactory.ParseString(
            "pipeline.cluster.bootstrap { enabled = on, required-contact-points = 3, config-endpoints = [\"127.0.0.1:8558\", \"127.0.0.1:8559\"] }"));
        var e = Assert.Throws<ConfigException>(() => ClusterBootstrapSetup.Apply(node, few));
        Assert.Contains("pipeline.cluster.bootstrap.config-endpoints", e.Message);
        Assert.Contains("pipeline.cluster.bootstrap.required-contact-points", e.Message);

        var none = BootstrapSettings.From(ConfigurationFactory.ParseString("pipeline.cluster.bootstrap.enabled = on"));
        Assert.Contains("pipeline.cluster.bootstrap.config-endpoints", Assert.Throws<ConfigException>(() => ClusterBootstrapSetup.Apply(node, none)).Message);
    }

    [Fact]
    public void Seed_nodes_and_bootstrap_together_are_refused_because_bootstrap_would_silently_step_aside()
    {
        var node = ConfigurationFactory.ParseString("""
            akka.remote.dot-netty.tcp.hostname = "127.0.0.1"
            akka.cluster.seed-nodes = ["akka.tcp://pipeline@127.0.0.1:4053"]
            """);
        var settings = BootstrapSettings.From(ConfigurationFactory.ParseString(
            "pipeline.cluster.bootstrap { config-endpoints = [\"127.0.0.1:8558\", \"127.0.0.1:8559\"] }"));
        Assert.Contains("akka.cluster.seed-nodes", Assert.Throws<ConfigException>(() => ClusterBootstrapSetup.Apply(node, settings)).Message);
    }

    [Fact]
    public void Management_binds_where_remoting_binds_and_advertises_the_public_address()
    {
        var settings = BootstrapSettings.From(ConfigurationFactory.ParseString(
            "pipeline.cluster.bootstrap { config-endpoints = [\"10.1.2.3:8558\", \"10.1.2.4:8558\"] }"));
        var all = ClusterBootstrapSetup.Apply(ConfigurationFactory.ParseString("""
            akka.remote.dot-netty.tcp { hostname = "0.0.0.0", public-hostname = "10.1.2.3" }
            """), settings);
        Assert.Equal("10.1.2.3", all.GetString("akka.management.http.hostname"));
        Assert.Equal("0.0.0.0", all.GetString("akka.management.http.bind-hostname"));
        Assert.Equal(8558, all.GetInt("akka.management.http.port"));

        var nowhere = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.hostname = \"0.0.0.0\"");
        Assert.Contains("management-hostname", Assert.Throws<ConfigException>(() => ClusterBootstrapSetup.Apply(nowhere, settings)).Message);
    }

    [Fact]
    public async Task Config_discovery_resolves_the_listed_management_endpoints()
    {
        var ports = FreePorts(2);
        var (config, _) = Node(ports[0], ports, required: 2);
        Assert.Equal("config", config.GetString("akka.discovery.method"));
        Assert.False(config.GetBoolean("akka.management.cluster.bootstrap.contact-point.filter-on-fallback-port"));
        Assert.Equal(2, config.GetInt("akka.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr"));
        var system = ActorSystem.Create("discovery-spec", ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(config));
        try
        {
            var resolved = await Discovery.Get(system).Default.Lookup("pipeline", TimeSpan.FromSeconds(3)).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(ports.Order().Select(p => ("127.0.0.1", (int?)p)), resolved.Addresses.Select(a => (a.Host, a.Port)).OrderBy(a => a.Port));
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Kubernetes_api_discovery_uses_the_pipeline_pod_lister_with_the_label_selector_and_the_management_port_name()
    {
        var settings = BootstrapSettings.From(ConfigurationFactory.ParseString("""
            pipeline.cluster.bootstrap { discovery = kubernetes-api, required-contact-points = 5, pod-label-selector = "app.kubernetes.io/name=%s" }
            """));
        var config = ClusterBootstrapSetup.Apply(ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.hostname = \"10.1.2.3\""), settings);
        Assert.Equal("kubernetes-api", config.GetString("akka.discovery.method"));
        Assert.Equal("app.kubernetes.io/name={0}", config.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
        Assert.Equal("management", config.GetString("akka.management.cluster.bootstrap.contact-point-discovery.port-name"));
        Assert.Equal(5, config.GetInt("akka.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr"));
        Assert.Equal("pipeline", config.GetString("akka.management.cluster.bootstrap.contact-point-discovery.service-name"));

        var system = ActorSystem.Create("k8s-config-spec", ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(config));
        try
        {
            Assert.IsType<KubernetesPodDiscovery>(Discovery.Get(system).Default);
            Assert.Equal("app.kubernetes.io/name=pipeline", KubernetesPodDiscovery.Settings(system).PodLabelSelector("pipeline"));
        }
        finally
        {
            await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
