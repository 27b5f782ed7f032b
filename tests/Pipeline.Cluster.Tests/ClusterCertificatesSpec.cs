using System.Net;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Cluster.Security;
using Pipeline.Core.Configuration;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// <see cref="ClusterCertificates"/> (<c>pipeline certs</c>): files <see cref="RemotingTls"/> loads, certificates that
/// chain to their own CA only, SANs for the node and loopback, keys readable by their owner, and a second run that adds
/// nodes under the same CA and keeps what exists.
/// </summary>
public sealed class ClusterCertificatesSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-certs-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string P(params string[] parts) => Path.Combine([_dir, .. parts]);

    private static TlsSettings Tls(string pfx, string ca, string passwordEnv = "") => new(true, pfx, passwordEnv, ca, true, false);

    [Fact]
    public void Each_node_gets_a_certificate_from_one_CA_that_RemotingTls_loads_with_SANs_for_its_name_and_loopback()
    {
        var outcome = ClusterCertificates.Issue(P("tls"), ["learner", "gen-1"]);
        Assert.True(outcome.CaCreated);
        Assert.Equal([("learner", P("tls", "learner.pfx"), true), ("gen-1", P("tls", "gen-1.pfx"), true)], outcome.Nodes);
        Assert.Equal(["ca.key", "ca.pem", "gen-1.pfx", "learner.pfx"], Directory.GetFiles(P("tls")).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var anchors = RemotingTls.LoadTrustAnchors(Tls("", P("tls", "ca.pem")));
        var ca = Assert.Single(anchors);
        foreach (var node in new[] { "learner", "gen-1" })
        {
            var tls = Tls(P("tls", node + ".pfx"), P("tls", "ca.pem"));
            var (config, setup) = RemotingTls.Apply(Akka.Configuration.Config.Empty, tls);  // throws if it does not chain
            Assert.NotNull(setup);
            using var cert = RemotingTls.LoadCertificate(tls);
            Assert.Equal($"CN={node}", cert.Subject);
            Assert.Equal(ca.Subject, cert.Issuer);
            var san = Assert.Single(cert.Extensions.OfType<X509SubjectAlternativeNameExtension>());
            Assert.Equal([node, "localhost"], san.EnumerateDnsNames());
            Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], san.EnumerateIPAddresses());
            var eku = Assert.Single(cert.Extensions.OfType<X509EnhancedKeyUsageExtension>());
            Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], eku.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value));
            Assert.True(cert.NotAfter <= ca.NotAfter);
        }
        if (!OperatingSystem.IsWindows())
            foreach (var secret in new[] { "ca.key", "learner.pfx", "gen-1.pfx" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("tls", secret)));
    }

    [Fact]
    public void A_certificate_from_a_second_CA_does_not_chain_to_the_first()
    {
        ClusterCertificates.Issue(P("a"), ["learner"]);
        ClusterCertificates.Issue(P("b"), ["learner"]);
        using var foreign = RemotingTls.LoadCertificate(Tls(P("b", "learner.pfx"), P("b", "ca.pem")));
        Assert.False(RemotingTls.ChainsTo(foreign, RemotingTls.LoadTrustAnchors(Tls("", P("a", "ca.pem"))), null, out var why));
        Assert.NotEmpty(why);
        var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Akka.Configuration.Config.Empty, Tls(P("b", "learner.pfx"), P("a", "ca.pem"))));
        Assert.Contains("does not chain to the CA", e.Message);
    }

    [Fact]
    public void A_second_run_adds_nodes_under_the_same_CA_and_keeps_existing_files()
    {
        ClusterCertificates.Issue(P("tls"), ["learner"]);
        var before = File.ReadAllBytes(P("tls", "learner.pfx"));
        var caBefore = File.ReadAllText(P("tls", "ca.pem"));
        var outcome = ClusterCertificates.Issue(P("tls"), ["learner", "annotator"]);
        Assert.False(outcome.CaCreated);
        Assert.Equal([("learner", false), ("annotator", true)], outcome.Nodes.Select(n => (n.Node, n.Created)));
        Assert.Equal(before, File.ReadAllBytes(P("tls", "learner.pfx")));
        Assert.Equal(caBefore, File.ReadAllText(P("tls", "ca.pem")));
        RemotingTls.Apply(Akka.Configuration.Config.Empty, Tls(P("tls", "annotator.pfx"), P("tls", "ca.pem")));
    }

    [Fact]
    public void The_CA_key_can_live_apart_from_the_node_files()
    {
        ClusterCertificates.Issue(P("tls"), ["learner"], caDir: P("ca"));
        Assert.False(File.Exists(P("tls", "ca.key")));
        Assert.True(File.Exists(P("ca", "ca.key")));
        Assert.Equal(File.ReadAllText(P("ca", "ca.pem")), File.ReadAllText(P("tls", "ca.pem")));
        RemotingTls.Apply(Akka.Configuration.Config.Empty, Tls(P("tls", "learner.pfx"), P("tls", "ca.pem")));
    }

    [Fact]
    public void A_password_encrypts_the_node_files()
    {
        const string env = "PIPELINE_CERTS_SPEC_PASSWORD";
        ClusterCertificates.Issue(P("tls"), ["learner"], password: "s3cret");
        Environment.SetEnvironmentVariable(env, "s3cret");
        try
        {
            RemotingTls.Apply(Akka.Configuration.Config.Empty, Tls(P("tls", "learner.pfx"), P("tls", "ca.pem"), env));
            var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Akka.Configuration.Config.Empty, Tls(P("tls", "learner.pfx"), P("tls", "ca.pem"))));
            Assert.Contains("wrong password", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(env, null);
        }
    }

    [Theory]
    [InlineData("Learner", "not a node name")]
    [InlineData("gen_1", "not a node name")]
    [InlineData("../x", "not a node name")]
    [InlineData("learner,learner", "twice")]
    public void A_bad_node_list_is_refused_before_anything_is_written(string nodes, string says)
    {
        var e = Assert.Throws<ConfigException>(() => ClusterCertificates.Issue(P("tls"), nodes.Split(',')));
        Assert.Contains(says, e.Message);
        Assert.False(Directory.Exists(P("tls")));
    }

    [Fact]
    public void An_out_folder_with_another_CA_is_refused()
    {
        ClusterCertificates.Issue(P("tls"), ["learner"]);
        var e = Assert.Throws<ConfigException>(() => ClusterCertificates.Issue(P("tls"), ["gen-1"], caDir: P("other-ca")));
        Assert.Contains("another CA", e.Message);
        Assert.False(File.Exists(P("tls", "gen-1.pfx")));
    }
}
