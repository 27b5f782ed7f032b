using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using Pipeline.Cluster.Roles;
using Pipeline.Cluster.Security;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// A CA, node certificates signed by it and an intruder's certificate from a foreign CA, made at test time and written as
/// PFX files whose password travels in an environment variable, as on a real node.
/// </summary>
public sealed class TlsCertificates : IDisposable
{
    public const string PasswordEnv = "PIPELINE_TLS_SPEC_PASSWORD";
    public const string Password = "correct horse battery staple";

    public string Dir { get; } = Directory.CreateTempSubdirectory("pipeline-tls-").FullName;
    public X509Certificate2 Ca { get; }
    public X509Certificate2 ForeignCa { get; }
    public X509Certificate2 NodeA { get; }
    public X509Certificate2 Intruder { get; }

    public TlsCertificates()
    {
        Environment.SetEnvironmentVariable(PasswordEnv, Password);
        Ca = MakeCa("CN=Pipeline Test CA");
        ForeignCa = MakeCa("CN=Foreign CA");
        NodeA = MakeNode(Ca, "node-a");
        Intruder = MakeNode(ForeignCa, "intruder");
        WritePfx("node-a.pfx", NodeA);
        WritePfx("node-b.pfx", MakeNode(Ca, "node-b"));
        WritePfx("node-c.pfx", MakeNode(Ca, "node-c"));
        WritePfx("intruder.pfx", Intruder);
        // The certificate alone, exported without its key.
        File.WriteAllBytes(Path("no-key.pfx"), X509CertificateLoader.LoadCertificate(NodeA.RawData).Export(X509ContentType.Pfx, Password));
        File.WriteAllText(Path("ca.pem"), Ca.ExportCertificatePem());
        File.WriteAllBytes(Path("ca.der"), Ca.RawData);
        // The intruder trusts our CA as well as its own: only our nodes' check keeps it out.
        File.WriteAllText(Path("both-cas.pem"), Ca.ExportCertificatePem() + "\n" + ForeignCa.ExportCertificatePem());
        File.WriteAllText(Path("garbage.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    }

    public string Path(string file) => System.IO.Path.Combine(Dir, file);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(PasswordEnv, null);
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }

    private void WritePfx(string file, X509Certificate2 certificate)
        => File.WriteAllBytes(Path(file), certificate.Export(X509ContentType.Pfx, Password));

    private static X509Certificate2 MakeCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 MakeNode(X509Certificate2 ca, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        return signed.CopyWithPrivateKey(key);
    }
}

/// <summary>
/// Remoting over TLS with mutual authentication (<see cref="RemotingTls"/>): nodes whose certificates chain to the
/// configured CA form a cluster; a node with a foreign CA's certificate, one that presents no client certificate and one
/// that speaks plain TCP cannot join, while a good node joins the same seed in the same window; configuration mistakes
/// are <see cref="ConfigException"/>s naming the key. Nodes are configured as <c>pipeline node</c> configures them
/// (<see cref="PipelineSettings.Load"/> over hocon/cluster.conf, <see cref="ClusterRoles.NodeConfig"/>).
/// </summary>
public sealed class TlsMutualAuthSpec(TlsCertificates certs, ITestOutputHelper output) : IClassFixture<TlsCertificates>, IDisposable
{
    private const string SystemName = "tls-spec";
    /// <summary>How long a refused node is given to join; a good node joins a seed in 1-3 s here.</summary>
    private static readonly TimeSpan RefusalWindow = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan UpDeadline = TimeSpan.FromSeconds(15);

    private readonly List<ActorSystem> _systems = [];

    public void Dispose()
    {
        var stopping = _systems.Select(s => s.Terminate().WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { })).ToArray();
        Task.WaitAll(stopping);
    }

    private TlsSettings Tls(string pfx, string ca = "ca.pem", bool mutual = true, bool enabled = true, string passwordEnv = TlsCertificates.PasswordEnv)
        => new(enabled, certs.Path(pfx), passwordEnv, certs.Path(ca), mutual, ValidateHostname: false);

    private static string[] Sets(TlsSettings tls) =>
    [
        "akka.remote.dot-netty.tcp.port = 0",
        $"cluster.tls.enabled = {(tls.Enabled ? "on" : "off")}",
        $"cluster.tls.certificate-path = \"{tls.CertificatePath}\"",
        $"cluster.tls.certificate-password-env = \"{tls.CertificatePasswordEnv}\"",
        $"cluster.tls.ca-path = \"{tls.CaPath}\"",
        $"cluster.tls.require-mutual-authentication = {(tls.RequireMutualAuthentication ? "on" : "off")}",
    ];

    /// <summary>A node configured as <c>pipeline node</c> does it, its warnings and errors collected.</summary>
    private (ActorSystem System, ConcurrentQueue<string> Log) Node(TlsSettings tls)
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, Sets(tls));
        var read = TlsSettings.From(settings.Hocon);
        Assert.Equal(tls, read);
        var system = RemotingTls.CreateSystem(SystemName, ClusterRoles.NodeConfig(settings, "127.0.0.1", 0, ["generator", "annotator"]), read);
        _systems.Add(system);
        var log = new ConcurrentQueue<string>();
        var collector = system.ActorOf(Props.Create(() => new LogCollector(log)), "log-collector");
        system.EventStream.Subscribe(collector, typeof(Warning));
        system.EventStream.Subscribe(collector, typeof(Error));
        return (system, log);
    }

    private sealed class LogCollector : ReceiveActor
    {
        public LogCollector(ConcurrentQueue<string> sink) => Receive<LogEvent>(e => sink.Enqueue($"[{e.LogLevel()}] {e.LogSource}: {e.Message} {e.Cause?.Message}"));
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<Prompt>(p => Sender.Tell(p with { Text = "echo: " + p.Text }));
    }

    private static Address AddressOf(ActorSystem system) => AkkaCluster.Get(system).SelfAddress;

    private static async Task WaitUntil(Func<bool> condition, TimeSpan deadline, string what)
    {
        var until = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"{what}: not within {deadline.TotalSeconds} s");
            await Task.Delay(100);
        }
    }

    private static bool IsUpOn(ActorSystem observer, Address member)
        => AkkaCluster.Get(observer).State.Members.Any(m => m.Address == member && m.Status == Akka.Cluster.MemberStatus.Up);

    private async Task<(ActorSystem System, ConcurrentQueue<string> Log)> StartSeed()
    {
        var seed = Node(Tls("node-a.pfx"));
        AkkaCluster.Get(seed.System).Join(AddressOf(seed.System));
        await WaitUntil(() => IsUpOn(seed.System, AddressOf(seed.System)), UpDeadline, "seed Up");
        return seed;
    }

    [Fact]
    public async Task Two_nodes_with_certificates_from_the_CA_form_a_cluster_over_TLS_and_a_message_round_trips()
    {
        var clock = Stopwatch.StartNew();
        var (a, aLog) = await StartSeed();
        var (b, bLog) = Node(Tls("node-b.pfx"));
        Assert.Equal(RemotingTls.TlsProtocol, AddressOf(a).Protocol);
        Assert.Equal(RemotingTls.TlsProtocol, AddressOf(b).Protocol);

        AkkaCluster.Get(b).JoinSeedNodes([AddressOf(a)]);
        await WaitUntil(() => IsUpOn(a, AddressOf(b)) && IsUpOn(b, AddressOf(a)) && IsUpOn(b, AddressOf(b)), UpDeadline, "both nodes Up on both");
        output.WriteLine($"cluster of 2 Up over TLS after {clock.ElapsedMilliseconds} ms");

        a.ActorOf(Props.Create(() => new Echo()), "echo");
        var echo = await b.ActorSelection(new RootActorPath(AddressOf(a)) / "user" / "echo").ResolveOne(TimeSpan.FromSeconds(5));
        var reply = await echo.Ask<Prompt>(new Prompt("p-1", "über TLS ✓", null, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty),
            TimeSpan.FromSeconds(5));
        Assert.Equal("echo: über TLS ✓", reply.Text);
        Assert.Equal("p-1", reply.Id);
        Assert.DoesNotContain(aLog.Concat(bLog), l => l.Contains(RemotingTls.RefusedMarker, StringComparison.Ordinal));
    }

    /// <summary>
    /// Starts a seed (node-a), then at once a good node (node-c) and <paramref name="intruder"/>, which joins the seed at
    /// <paramref name="protocol"/>. The good node must be Up; the intruder must never be Up nor ever be a member of the seed's cluster.
    /// </summary>
    private async Task<ConcurrentQueue<string>> Intruder_cannot_join(TlsSettings intruder, string protocol)
    {
        var (seed, seedLog) = await StartSeed();
        var seedAddress = AddressOf(seed);
        var (good, _) = Node(Tls("node-c.pfx"));
        var (bad, badLog) = Node(intruder);
        var badUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AkkaCluster.Get(bad).RegisterOnMemberUp(() => badUp.TrySetResult());
        var window = Stopwatch.StartNew();
        AkkaCluster.Get(good).JoinSeedNodes([seedAddress]);
        AkkaCluster.Get(bad).JoinSeedNodes([new Address(protocol, SystemName, seedAddress.Host, seedAddress.Port)]);

        var seen = new HashSet<Address>();
        var goodAddress = AddressOf(good);
        await WaitUntil(() =>
        {
            foreach (var m in AkkaCluster.Get(seed).State.Members) seen.Add(m.Address);
            return IsUpOn(seed, goodAddress) && window.Elapsed >= RefusalWindow;
        }, UpDeadline + RefusalWindow, "the good node Up on the seed, and the refusal window over");
        output.WriteLine($"good node Up; intruder {AddressOf(bad)} kept out for {window.ElapsedMilliseconds} ms");
        foreach (var line in seedLog.Take(20)) output.WriteLine("seed: " + line);
        foreach (var line in badLog.Take(10)) output.WriteLine("intruder: " + line);

        Assert.False(badUp.Task.IsCompleted, "the intruder became Up");
        Assert.DoesNotContain(AkkaCluster.Get(bad).State.Members, m => m.Status == Akka.Cluster.MemberStatus.Up);
        Assert.Equal(new HashSet<Address> { seedAddress, goodAddress }, seen);
        return seedLog;
    }

    [Fact]
    public async Task A_node_with_a_certificate_from_a_foreign_CA_cannot_join_and_the_seed_refuses_its_handshake()
    {
        // The intruder trusts both CAs, so the refusal comes from the seed checking the intruder's certificate.
        var seedLog = await Intruder_cannot_join(Tls("intruder.pfx", ca: "both-cas.pem"), RemotingTls.TlsProtocol);
        Assert.Contains(seedLog, l => l.Contains(RemotingTls.RefusedMarker, StringComparison.Ordinal)
                                      && l.Contains("[CN=intruder] issued by [CN=Foreign CA]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_that_presents_no_client_certificate_cannot_join()
    {
        // A certificate from our CA, but require-mutual-authentication = off: it connects without presenting it.
        var seedLog = await Intruder_cannot_join(Tls("node-b.pfx", mutual: false), RemotingTls.TlsProtocol);
        Assert.Contains(seedLog, l => l.Contains("did not provide a certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_without_TLS_cannot_join_a_TLS_seed()
    {
        // Plain TCP to the seed's TLS port: the seed's TLS layer refuses the first bytes.
        var seedLog = await Intruder_cannot_join(Tls("node-b.pfx", enabled: false), RemotingTls.PlainProtocol);
        Assert.Contains(seedLog, l => l.Contains("not an SSL/TLS record", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_certificate_file_names_the_key()
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Config.Empty, Tls("absent.pfx")));
        Assert.Contains("pipeline.cluster.tls.certificate-path", e.Message);
        Assert.Contains("file not found", e.Message);
        Assert.Contains(certs.Path("absent.pfx"), e.Message);
    }

    [Fact]
    public void A_wrong_password_names_the_key_and_the_variable_without_the_password()
    {
        const string env = "PIPELINE_TLS_SPEC_WRONG";
        Environment.SetEnvironmentVariable(env, "not the password");
        try
        {
            var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Config.Empty, Tls("node-a.pfx", passwordEnv: env)));
            Assert.Contains("pipeline.cluster.tls.certificate-path", e.Message);
            Assert.Contains("pipeline.cluster.tls.certificate-password-env", e.Message);
            Assert.Contains(env, e.Message);
            Assert.Contains("wrong password", e.Message);
            Assert.DoesNotContain("not the password", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(env, null);
        }
    }

    [Fact]
    public void An_unset_password_variable_names_the_key()
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Config.Empty, Tls("node-a.pfx", passwordEnv: "PIPELINE_TLS_SPEC_UNSET")));
        Assert.Contains("pipeline.cluster.tls.certificate-password-env", e.Message);
        Assert.Contains("PIPELINE_TLS_SPEC_UNSET", e.Message);
    }

    [Fact]
    public void A_certificate_without_its_private_key_names_the_key()
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Config.Empty, Tls("no-key.pfx")));
        Assert.Contains("pipeline.cluster.tls.certificate-path", e.Message);
        Assert.Contains("no private key", e.Message);
    }

    [Theory]
    [InlineData("garbage.pem", "cannot read a CA certificate")]
    [InlineData("absent-ca.pem", "file not found")]
    [InlineData("node-a.pfx", "cannot read a CA certificate")]
    public void An_unreadable_CA_names_the_key(string caFile, string says)
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Config.Empty, Tls("node-a.pfx", ca: caFile)));
        Assert.Contains("pipeline.cluster.tls.ca-path", e.Message);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void A_node_whose_certificate_does_not_chain_to_its_CA_does_not_start()
    {
        var e = Assert.Throws<ConfigException>(() => RemotingTls.Apply(Config.Empty, Tls("intruder.pfx")));
        Assert.Contains("pipeline.cluster.tls.certificate-path", e.Message);
        Assert.Contains("does not chain to the CA", e.Message);
    }

    [Fact]
    public void Enabled_TLS_switches_on_the_ssl_transport_with_a_setup_and_disabled_TLS_changes_nothing()
    {
        var node = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.port = 0");
        var (plain, none) = RemotingTls.Apply(node, Tls("node-a.pfx", enabled: false));
        Assert.Same(node, plain);
        Assert.Null(none);

        var (config, setup) = RemotingTls.Apply(node, Tls("node-a.pfx", ca: "ca.der"));
        Assert.True(config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.Equal(0, config.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.NotNull(setup);
        var ssl = setup.Get<DotNettySslSetup>().Value;
        Assert.Equal(certs.NodeA.Thumbprint, ssl.Certificate.Thumbprint);
        Assert.True(ssl.Certificate.HasPrivateKey);
        Assert.True(ssl.RequireMutualAuthentication);
        Assert.False(ssl.SuppressValidation);
        Assert.NotNull(ssl.CustomValidator);
    }

    [Fact]
    public void The_validator_accepts_only_certificates_that_chain_to_the_configured_CA()
    {
        var anchors = new X509Certificate2Collection(certs.Ca);
        var validate = RemotingTls.Validator(anchors, validateHostname: false);
        var log = NoLogger.Instance;
        // SslStream reports our private CA as untrusted (it is not in the OS store); the validator decides by its own chain.
        Assert.True(validate(certs.NodeA, null, "peer", SslPolicyErrors.RemoteCertificateChainErrors, log));
        Assert.False(validate(certs.Intruder, null, "peer", SslPolicyErrors.None, log));
        Assert.False(validate(null, null, "peer", SslPolicyErrors.RemoteCertificateNotAvailable, log));
        Assert.False(validate(certs.ForeignCa, null, "peer", SslPolicyErrors.None, log));

        Assert.True(validate(certs.NodeA, null, "peer", SslPolicyErrors.RemoteCertificateNameMismatch, log));
        var strict = RemotingTls.Validator(anchors, validateHostname: true);
        Assert.False(strict(certs.NodeA, null, "peer", SslPolicyErrors.RemoteCertificateNameMismatch, log));
        Assert.True(strict(certs.NodeA, null, "peer", SslPolicyErrors.None, log));
    }

    [Fact]
    public void The_tls_keys_are_known_to_the_configuration_and_a_password_key_is_not()
    {
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, Sets(Tls("node-a.pfx")));
        Assert.Equal(Tls("node-a.pfx"), TlsSettings.From(settings.Hocon));
        Assert.False(TlsSettings.From(PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, []).Hocon).Enabled);

        var e = Assert.Throws<ConfigException>(() =>
            PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, ["cluster.tls.certificate-password = \"secret\""]));
        Assert.Contains("unknown key 'pipeline.cluster.tls.certificate-password'", e.Message);
    }
}
