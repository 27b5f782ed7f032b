using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Pipeline.Core.Configuration;

namespace Pipeline.Cluster.Security;

/// <summary>
/// A private CA and one certificate per node, in the files <see cref="RemotingTls"/> reads (<c>pipeline certs</c>):
/// <c>ca.pem</c> (the trust anchor, <c>pipeline.cluster.tls.ca-path</c>), <c>&lt;node&gt;.pfx</c> (the node's certificate and
/// key, <c>certificate-path</c>) and <c>ca.key</c> (the CA's key, only to sign more nodes later). For tests and small
/// deployments: no revocation, no rotation; a real deployment issues certificates from its own PKI (cert-manager).
/// What exists is kept: an existing CA signs the new nodes, an existing node file is left alone.
/// </summary>
public static partial class ClusterCertificates
{
    public const string CaCertificateFile = "ca.pem";
    public const string CaKeyFile = "ca.key";

    public static string NodeFile(string node) => node + ".pfx";

    /// <summary>What <see cref="Issue"/> did with each file.</summary>
    public sealed record Outcome(string CaCertificate, bool CaCreated, IReadOnlyList<(string Node, string Path, bool Created)> Nodes);

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex NodeName();

    /// <summary>
    /// Writes (or reuses) the CA in <paramref name="caDir"/> (its certificate also in <paramref name="outDir"/>) and a
    /// certificate per name in <paramref name="nodes"/> into <paramref name="outDir"/>, the PFX encrypted with
    /// <paramref name="password"/> (null: none). Throws <see cref="ConfigException"/> naming what is wrong.
    /// </summary>
    public static Outcome Issue(string outDir, IReadOnlyList<string> nodes, string? caDir = null, string? password = null, int days = 365)
    {
        if (nodes.Count == 0) throw new ConfigException("--nodes is empty: name at least one node (e.g. learner,gen-1)");
        foreach (var n in nodes)
            if (!NodeName().IsMatch(n))
                throw new ConfigException($"--nodes: '{n}' is not a node name (lower-case letters, digits and '-', as a DNS label; it becomes the file name and the certificate's DNS name)");
        if (nodes.Distinct().Count() != nodes.Count) throw new ConfigException($"--nodes names a node twice: {string.Join(",", nodes)}");
        if (days < 1) throw new ConfigException($"--days must be at least 1, got {days}");
        caDir ??= outDir;
        Directory.CreateDirectory(outDir);
        Directory.CreateDirectory(caDir);

        var (ca, caCreated) = LoadOrCreateCa(caDir, days);
        using (ca)
        {
            var caPem = Path.Combine(outDir, CaCertificateFile);
            var pem = ca.ExportCertificatePem() + "\n";
            if (File.Exists(caPem) && File.ReadAllText(caPem).Trim() != pem.Trim())
                throw new ConfigException($"{caPem} holds another CA than the one in {Path.Combine(caDir, CaKeyFile)}: nodes would not trust each other; use a fresh --out");
            File.WriteAllText(caPem, pem);

            var issued = new List<(string, string, bool)>();
            foreach (var node in nodes)
            {
                var path = Path.Combine(outDir, NodeFile(node));
                if (File.Exists(path))
                {
                    issued.Add((node, path, false));
                    continue;
                }
                using var certificate = CreateNode(ca, node, days);
                WritePrivate(path, certificate.ExportPkcs12(Pkcs12ExportPbeParameters.Pbes2Aes256Sha256, password));
                issued.Add((node, path, true));
            }
            return new Outcome(caPem, caCreated, issued);
        }
    }

    private static (X509Certificate2 Ca, bool Created) LoadOrCreateCa(string caDir, int days)
    {
        var certPath = Path.Combine(caDir, CaCertificateFile);
        var keyPath = Path.Combine(caDir, CaKeyFile);
        if (File.Exists(keyPath))
        {
            if (!File.Exists(certPath)) throw new ConfigException($"{keyPath} exists but {certPath} does not: restore it or use a fresh directory");
            try
            {
                return (X509Certificate2.CreateFromPemFile(certPath, keyPath), false);
            }
            catch (CryptographicException e)
            {
                throw new ConfigException($"cannot load the existing CA from {certPath} and {keyPath}: {e.Message}");
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Pipeline cluster CA {DateTime.UtcNow:yyyy-MM-dd}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(days));
        WritePrivate(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem() + "\n"));
        File.WriteAllText(certPath, ca.ExportCertificatePem() + "\n");
        return (ca, true);
    }

    /// <summary>A server-and-client certificate for <paramref name="node"/>: SANs for its name, localhost, 127.0.0.1 and ::1.</summary>
    private static X509Certificate2 CreateNode(X509Certificate2 ca, string node, int days)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={node}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        // Every node is a TLS server (inbound) and a TLS client (outbound).
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(node);
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        // Never outlive the CA: a chain with an expired issuer fails.
        var notAfter = DateTimeOffset.UtcNow.AddDays(days) < ca.NotAfter ? DateTimeOffset.UtcNow.AddDays(days) : new DateTimeOffset(ca.NotAfter);
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, serial);
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>A key file readable by its owner only (where the file system has Unix modes).</summary>
    private static void WritePrivate(string path, byte[] bytes)
    {
        if (OperatingSystem.IsWindows())
        {
            File.WriteAllBytes(path, bytes);
            return;
        }
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using var stream = new FileStream(path, options);
        stream.Write(bytes);
    }
}
