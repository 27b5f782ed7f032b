using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using Pipeline.Core.Configuration;

namespace Pipeline.Cluster.Security;

/// <summary>
/// <c>pipeline.cluster.tls</c>: TLS between cluster nodes with mutual authentication against the run's own CA.
/// Paths are files on the node (a Kubernetes Secret mounted as files); the PFX password comes only from the environment
/// variable named by <see cref="CertificatePasswordEnv"/>, never from HOCON.
/// </summary>
public sealed record TlsSettings(
    bool Enabled,
    string CertificatePath,
    string CertificatePasswordEnv,
    string CaPath,
    bool RequireMutualAuthentication,
    bool ValidateHostname)
{
    public const string Block = "pipeline.cluster.tls";

    public static TlsSettings Disabled { get; } = new(false, "", "", "", true, false);

    /// <summary>Reads <c>pipeline.cluster.tls</c> from the merged configuration; an absent block means TLS off.</summary>
    public static TlsSettings From(Config config)
    {
        var block = new ConfigBlock(config.HasPath(Block) ? config.GetConfig(Block) : null, Block);
        var d = Disabled;
        return new TlsSettings(
            block.Bool("enabled", d.Enabled),
            block.Str("certificate-path", d.CertificatePath).Trim(),
            block.Str("certificate-password-env", d.CertificatePasswordEnv).Trim(),
            block.Str("ca-path", d.CaPath).Trim(),
            block.Bool("require-mutual-authentication", d.RequireMutualAuthentication),
            block.Bool("validate-hostname", d.ValidateHostname));
    }
}

/// <summary>
/// Turns <see cref="TlsSettings"/> into what Akka.Remote 1.5.74's DotNetty transport needs: <c>enable-ssl = on</c> in the
/// node's config and a <see cref="DotNettySslSetup"/> carrying this node's certificate (loaded here, so the password never
/// enters HOCON) and a validator that accepts a peer only if its certificate chains to the CA in <c>ca-path</c>
/// (an <see cref="X509Chain"/> with <see cref="X509ChainTrustMode.CustomRootTrust"/>; the OS trust store plays no part).
/// HOCON alone cannot name a trust anchor: <c>suppress-validation = off</c> checks against the OS store, <c>on</c> accepts anyone.
/// </summary>
public static class RemotingTls
{
    /// <summary>Address protocol of a TLS node (<c>akka.ssl.tcp://system@host:port</c>); seeds must use it.</summary>
    public const string TlsProtocol = "akka.ssl.tcp";
    public const string PlainProtocol = "akka.tcp";
    /// <summary>Start of the warning a node logs when it refuses a peer's certificate.</summary>
    public const string RefusedMarker = "TLS handshake refused";

    private const string K = TlsSettings.Block + ".";

    public static string Protocol(TlsSettings tls) => tls.Enabled ? TlsProtocol : PlainProtocol;

    /// <summary>
    /// The node's config with TLS switched on and the setup that carries the certificate and the CA check; with TLS off,
    /// <paramref name="nodeConfig"/> unchanged and no setup. Throws <see cref="ConfigException"/> naming the key at fault.
    /// </summary>
    public static (Config Config, ActorSystemSetup? Setup) Apply(Config nodeConfig, TlsSettings tls)
    {
        if (!tls.Enabled) return (nodeConfig, null);
        var certificate = LoadCertificate(tls);
        var anchors = LoadTrustAnchors(tls);
        if (!ChainsTo(certificate, anchors, null, out var why))
            throw new ConfigException($"{K}certificate-path: [{certificate.Subject}] in {tls.CertificatePath} does not chain to the CA in " +
                                      $"{K}ca-path ({tls.CaPath}): {why}; every peer would refuse this node");

        var config = ConfigurationFactory.ParseString($"""
            akka.remote.dot-netty.tcp.enable-ssl = on
            akka.remote.dot-netty.tcp.ssl.require-mutual-authentication = {(tls.RequireMutualAuthentication ? "on" : "off")}
            akka.remote.dot-netty.tcp.ssl.validate-certificate-hostname = {(tls.ValidateHostname ? "on" : "off")}
            """).WithFallback(nodeConfig);
        var ssl = new DotNettySslSetup(certificate, suppressValidation: false, tls.RequireMutualAuthentication, tls.ValidateHostname,
            Validator(anchors, tls.ValidateHostname));
        return (config, ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config), ssl));
    }

    /// <summary>
    /// Refuses plain TCP on an address other hosts can reach: with TLS off, remoting's bind address
    /// (<c>akka.remote.dot-netty.tcp.bind-hostname</c>, else <c>hostname</c>) must be loopback (127.0.0.0/8, ::1, localhost),
    /// because any host that reaches the port could join the cluster. <paramref name="insecure"/> (<c>--insecure</c>) allows it.
    /// </summary>
    public static void RefuseInsecureBinding(Config nodeConfig, TlsSettings tls, bool insecure)
    {
        if (tls.Enabled || insecure) return;
        var bind = nodeConfig.GetString("akka.remote.dot-netty.tcp.bind-hostname", "");
        if (string.IsNullOrWhiteSpace(bind)) bind = nodeConfig.GetString("akka.remote.dot-netty.tcp.hostname", "");
        if (IsLoopback(bind)) return;
        var shown = string.IsNullOrWhiteSpace(bind) ? "'' (every interface)" : bind;
        throw new ConfigException(
            $"remoting would bind {shown}, which is not a loopback address, with {K}enabled = off: any host that can reach " +
            $"the port could join this cluster. Turn TLS on ({K}enabled = on, {K}certificate-path, {K}ca-path; `pipeline certs` " +
            "makes them for a test or small deployment), or pass --insecure on a network you trust");
    }

    /// <summary>True for localhost, 127.0.0.0/8 and ::1.</summary>
    public static bool IsLoopback(string host)
    {
        host = host.Trim().Trim('[', ']');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip);
    }

    /// <summary>An ActorSystem for <paramref name="nodeConfig"/>, with TLS when <paramref name="tls"/> says so.</summary>
    public static ActorSystem CreateSystem(string name, Config nodeConfig, TlsSettings tls)
    {
        var (config, setup) = Apply(nodeConfig, tls);
        return setup is null ? ActorSystem.Create(name, config) : ActorSystem.Create(name, setup);
    }

    /// <summary>This node's certificate with its private key, from the PFX at <c>certificate-path</c>.</summary>
    public static X509Certificate2 LoadCertificate(TlsSettings tls)
    {
        var path = tls.CertificatePath;
        if (path.Length == 0)
            throw new ConfigException($"{K}certificate-path is empty: with {K}enabled = on every node needs its certificate and key (PFX/PKCS#12)");
        if (!File.Exists(path)) throw new ConfigException($"{K}certificate-path: file not found: {path}");

        string? password = null;
        if (tls.CertificatePasswordEnv.Length > 0)
        {
            password = Environment.GetEnvironmentVariable(tls.CertificatePasswordEnv);
            if (password is null)
                throw new ConfigException($"{K}certificate-password-env names {tls.CertificatePasswordEnv}, which is not set in this node's environment");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.DefaultKeySet);
        }
        catch (CryptographicException e)
        {
            if (ContentType(path) is var type and not X509ContentType.Pkcs12)
                throw new ConfigException($"{K}certificate-path: {path} is not a PFX/PKCS#12 file (found {type}); " +
                                          "bundle the certificate and its key with `openssl pkcs12 -export`");
            var from = tls.CertificatePasswordEnv.Length > 0
                ? $"the password in ${tls.CertificatePasswordEnv} ({K}certificate-password-env)"
                : $"no password ({K}certificate-password-env is empty)";
            throw new ConfigException($"{K}certificate-path: cannot open {path} with {from}: wrong password? ({e.Message})");
        }
        if (!certificate.HasPrivateKey)
        {
            var subject = certificate.Subject;
            certificate.Dispose();
            throw new ConfigException($"{K}certificate-path: {path} holds no private key for [{subject}]; " +
                                      "a node must present its own key: export it with `openssl pkcs12 -export -inkey node.key`");
        }
        return certificate;
    }

    /// <summary>The CA certificate(s) in <c>ca-path</c> (PEM, possibly several, or one DER), each a trust anchor.</summary>
    public static X509Certificate2Collection LoadTrustAnchors(TlsSettings tls)
    {
        var path = tls.CaPath;
        if (path.Length == 0)
            throw new ConfigException($"{K}ca-path is empty: with {K}enabled = on peers are checked against this CA only (PEM or DER)");
        if (!File.Exists(path)) throw new ConfigException($"{K}ca-path: file not found: {path}");
        var anchors = new X509Certificate2Collection();
        try
        {
            var bytes = File.ReadAllBytes(path);
            var text = System.Text.Encoding.ASCII.GetString(bytes);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)) anchors.ImportFromPem(text);
            else anchors.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (CryptographicException e)
        {
            throw new ConfigException($"{K}ca-path: cannot read a CA certificate from {path} (PEM or DER expected): {e.Message}");
        }
        if (anchors.Count == 0) throw new ConfigException($"{K}ca-path: no certificate in {path} (PEM or DER expected)");
        return anchors;
    }

    /// <summary>
    /// The peer check, on both sides of every connection: the certificate must chain to one of <paramref name="anchors"/>
    /// (and be valid now, and carry serverAuth and clientAuth if it names key usages); with <paramref name="validateHostname"/>,
    /// an outbound peer's certificate must also match the host dialled. The OS store is not consulted.
    /// </summary>
    public static CertificateValidationCallback Validator(X509Certificate2Collection anchors, bool validateHostname)
        => (certificate, presented, peer, errors, log) =>
        {
            if (certificate is null)
            {
                log.Warning("{0}: peer {1} presented no certificate", RefusedMarker, peer);
                return false;
            }
            if (!ChainsTo(certificate, anchors, presented, out var why))
            {
                log.Warning("{0}: peer {1} presented [{2}] issued by [{3}], which does not chain to the CA in {4}ca-path: {5}",
                    RefusedMarker, peer, certificate.Subject, certificate.Issuer, K, why);
                return false;
            }
            if (validateHostname && errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            {
                log.Warning("{0}: peer {1} presented [{2}], whose names do not match the host dialled ({3}validate-hostname = on)",
                    RefusedMarker, peer, certificate.Subject, K);
                return false;
            }
            return true;
        };

    /// <summary>True when <paramref name="certificate"/> chains to one of <paramref name="anchors"/>; otherwise <paramref name="why"/> says why not.</summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection anchors, X509Chain? presented, out string why)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(anchors);
        // A private CA rarely publishes revocation lists, and nodes may have no route to one.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        // Every node is a TLS server and a TLS client; a certificate without an EKU extension passes this check.
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        // Intermediates the peer sent in the handshake may complete the path; they are not trusted by themselves.
        if (presented is not null)
            foreach (var element in presented.ChainElements)
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span))
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (chain.Build(certificate))
        {
            why = "";
            return true;
        }
        var statuses = chain.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError)
            .Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct().ToList();
        why = statuses.Count == 0 ? "chain not built" : string.Join("; ", statuses);
        return false;
    }

    private static X509ContentType ContentType(string path)
    {
        try
        {
            return X509Certificate2.GetCertContentType(path);
        }
        catch (CryptographicException)
        {
            return X509ContentType.Unknown;
        }
    }
}
