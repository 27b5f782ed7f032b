using Akka.Configuration;
using Pipeline.Cluster.Roles;
using Pipeline.Cluster.Security;
using Pipeline.Core.Configuration;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// <see cref="RemotingTls.RefuseInsecureBinding"/>, what <c>pipeline node</c> checks before it binds: plain TCP only on
/// loopback unless <c>--insecure</c>; with TLS on, any address.
/// </summary>
public sealed class InsecureBindingSpec
{
    private static readonly TlsSettings On = new(true, "node.pfx", "", "ca.pem", true, false);

    private static Config Node(string host, params string[] sets)
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, sets);
        return ClusterRoles.NodeConfig(settings, host, 4053, ["generator"]);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.4.5.6")]
    [InlineData("::1")]
    [InlineData("[::1]")]
    [InlineData("localhost")]
    [InlineData("LocalHost")]
    public void Plain_TCP_on_a_loopback_address_is_allowed(string host)
        => RemotingTls.RefuseInsecureBinding(Node(host), TlsSettings.Disabled, insecure: false);

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("10.0.0.5")]
    [InlineData("learner")]
    [InlineData("128.0.0.1")]
    public void Plain_TCP_on_a_reachable_address_is_refused_naming_the_key_and_the_way_out(string host)
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.RefuseInsecureBinding(Node(host), TlsSettings.Disabled, insecure: false));
        Assert.Contains(host, e.Message);
        Assert.Contains("pipeline.cluster.tls.enabled = off", e.Message);
        Assert.Contains("--insecure", e.Message);
        Assert.Contains("pipeline certs", e.Message);
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("10.0.0.5")]
    public void TLS_or_insecure_allows_a_reachable_address(string host)
    {
        RemotingTls.RefuseInsecureBinding(Node(host), On, insecure: false);
        RemotingTls.RefuseInsecureBinding(Node(host), TlsSettings.Disabled, insecure: true);
    }

    [Fact]
    public void The_bind_hostname_decides_when_it_differs_from_the_advertised_one()
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.RefuseInsecureBinding(
            Node("127.0.0.1", "akka.remote.dot-netty.tcp.bind-hostname = \"0.0.0.0\""), TlsSettings.Disabled, insecure: false));
        Assert.Contains("0.0.0.0", e.Message);
        RemotingTls.RefuseInsecureBinding(Node("10.0.0.5", "akka.remote.dot-netty.tcp.bind-hostname = \"127.0.0.1\""), TlsSettings.Disabled, insecure: false);
    }

    [Fact]
    public void An_empty_hostname_binds_every_interface_and_is_refused()
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.RefuseInsecureBinding(Node(""), TlsSettings.Disabled, insecure: false));
        Assert.Contains("every interface", e.Message);
    }
}
