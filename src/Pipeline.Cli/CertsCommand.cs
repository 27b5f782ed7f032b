using System.CommandLine;
using Pipeline.Cluster.Security;
using Pipeline.Core.Configuration;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline certs --out DIR --nodes learner,gen-1</c>: a private CA and a certificate per node for cluster TLS
/// (<see cref="ClusterCertificates"/>), for tests and small deployments.
/// </summary>
internal static class CertsCommand
{
    private static readonly Option<DirectoryInfo> Out = new("--out")
    {
        Description = "Folder for ca.pem (every node's pipeline.cluster.tls.ca-path) and <node>.pfx (that node's certificate-path).",
        Required = true,
    };

    private static readonly Option<string[]> Nodes = new("--nodes")
    {
        Description = "Node names (comma-separated or repeated): one certificate each, with SANs for the name, localhost, 127.0.0.1 and ::1.",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };

    private static readonly Option<DirectoryInfo?> CaDir = new("--ca-dir")
    {
        Description = "Folder for the CA's key (ca.key) and certificate (default: --out). Keep it off the nodes: whoever holds ca.key can mint members.",
    };

    private static readonly Option<string?> PasswordEnv = new("--password-env")
    {
        Description = "NAME of an environment variable whose value encrypts the PFX files (give the nodes the same name in pipeline.cluster.tls.certificate-password-env). Default: no password.",
    };

    private static readonly Option<int> Days = new("--days")
    {
        Description = "Validity of a new CA and of each new certificate, in days.",
        DefaultValueFactory = _ => 365,
    };

    public static Command Create()
    {
        var command = new Command("certs", """
            Create a private CA and one certificate per node for cluster TLS (pipeline.cluster.tls): FOR TESTS AND SMALL
            DEPLOYMENTS (no revocation, no rotation). Production: issue them from your own PKI, e.g. cert-manager (deploy/README.md).
            Writes DIR/ca.pem and DIR/<node>.pfx (keys readable by their owner only), and ca.key in --ca-dir (default DIR).
            Run again to add nodes: an existing CA signs them and existing node files are kept.
            Each node then runs with --set pipeline.cluster.tls.enabled=on
                                --set pipeline.cluster.tls.certificate-path=DIR/<node>.pfx --set pipeline.cluster.tls.ca-path=DIR/ca.pem
            """)
        {
            Out, Nodes, CaDir, PasswordEnv, Days,
        };
        command.SetAction(parse => Run(parse));
        return command;
    }

    private static int Run(ParseResult parse)
    {
        var nodes = (parse.GetValue(Nodes) ?? []).SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        string? password = null;
        if (parse.GetValue(PasswordEnv) is { Length: > 0 } env)
        {
            password = Environment.GetEnvironmentVariable(env);
            if (string.IsNullOrEmpty(password)) throw new ConfigException($"--password-env names {env}, which is not set (or empty) in this environment");
        }
        var outDir = parse.GetValue(Out)!.FullName;
        var outcome = ClusterCertificates.Issue(outDir, nodes, parse.GetValue(CaDir)?.FullName, password, parse.GetValue(Days));
        Console.WriteLine($"{(outcome.CaCreated ? "created" : "reused")} CA: {outcome.CaCertificate}");
        foreach (var (node, path, created) in outcome.Nodes)
            Console.WriteLine($"{(created ? "created" : "kept   ")} {node}: {path}");
        Console.WriteLine("For tests and small deployments; see deploy/README.md (TLS) for cert-manager.");
        return ExitCodes.Ok;
    }
}
