using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using Pipeline.Cluster.Bootstrap;
using Pipeline.Cluster.Roles;
using Pipeline.Cluster.Security;
using Pipeline.Core.Configuration;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// deploy/ cannot be run here (no Docker engine, no Kubernetes): these checks parse every manifest and hold the files to
/// what the code runs (every node's roles pass <see cref="ClusterRoles.Validate"/>, its args are options of
/// <c>pipeline node</c> and load through the node's configuration path, every node shares one run folder), so a broken
/// edit fails here instead of on someone's cluster.
/// </summary>
public sealed class DeployManifestsSpec
{
    private static readonly string Deploy = RepoRoot.Combine("deploy");
    private static readonly string Compose = Path.Combine(Deploy, "compose", "docker-compose.yml");
    private static readonly string K8s = Path.Combine(Deploy, "k8s");

    private static IEnumerable<string> YamlFiles() =>
        Directory.EnumerateFiles(Deploy, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    private static IEnumerable<(string File, YamlNode Root)> K8sDocuments() =>
        Directory.EnumerateFiles(K8s, "*.yaml").Order(StringComparer.Ordinal)
            .SelectMany(f => Yaml.LoadAll(File.ReadAllText(f)).Select(d => (Path.GetFileName(f), d.RootNode)));

    private static YamlNode ComposeRoot() => Assert.Single(Yaml.LoadAll(File.ReadAllText(Compose))).RootNode;

    [Fact]
    public void Every_yaml_file_under_deploy_parses_including_multi_document_streams()
    {
        var files = YamlFiles().ToList();
        Assert.True(files.Count >= 10, $"found {files.Count} YAML files under {Deploy}");
        foreach (var file in files)
        {
            var documents = Yaml.LoadAll(File.ReadAllText(file));
            Assert.True(documents.Count >= 1, $"{file}: no document");
            Assert.All(documents, d => Assert.IsType<YamlMappingNode>(d.RootNode));
        }
        Assert.Contains(K8sDocuments(), d => d.File == "rbac.yaml" && Yaml.Scalar(d.Root, "kind") == "RoleBinding"); // 3 docs in one file
    }

    [Fact]
    public void Every_kubernetes_document_has_apiVersion_kind_and_a_name()
    {
        var documents = K8sDocuments().ToList();
        Assert.True(documents.Count >= 10, $"{documents.Count} documents");
        foreach (var (file, root) in documents)
        {
            foreach (var key in new[] { "apiVersion", "kind", "metadata.name" })
                Assert.False(string.IsNullOrWhiteSpace(Yaml.Scalar(root, key)), $"{file}: {key} missing");
        }
    }

    [Fact]
    public void The_kustomization_lists_exactly_the_manifests_in_the_folder()
    {
        var kustomization = Assert.Single(Yaml.LoadAll(File.ReadAllText(Path.Combine(K8s, "kustomization.yaml")))).RootNode;
        var listed = Yaml.Items(Yaml.At(kustomization, "resources")).Select(n => ((YamlScalarNode)n).Value!).Order(StringComparer.Ordinal).ToList();
        var present = Directory.EnumerateFiles(K8s, "*.yaml").Select(f => Path.GetFileName(f)).Where(f => f != "kustomization.yaml")
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(present, listed);
    }

    [Fact]
    public void Kubernetes_has_RBAC_for_pod_discovery_and_a_headless_service_for_remoting_and_management()
    {
        var docs = K8sDocuments().Select(d => d.Root).ToList();
        var role = Assert.Single(docs, d => Yaml.Scalar(d, "kind") == "Role");
        var rule = Assert.Single(Yaml.Items(Yaml.At(role, "rules")));
        Assert.Equal(["pods"], Yaml.Words(Yaml.At(rule, "resources")));
        Assert.Equal(["get", "list", "watch"], Yaml.Words(Yaml.At(rule, "verbs")).Order());
        var binding = Assert.Single(docs, d => Yaml.Scalar(d, "kind") == "RoleBinding");
        Assert.Equal(Yaml.Scalar(role, "metadata.name"), Yaml.Scalar(binding, "roleRef.name"));
        var account = Assert.Single(docs, d => Yaml.Scalar(d, "kind") == "ServiceAccount");
        Assert.Equal(Yaml.Scalar(account, "metadata.name"), Yaml.Scalar(Yaml.Items(Yaml.At(binding, "subjects"))[0], "name"));

        var headless = Assert.Single(docs, d => Yaml.Scalar(d, "kind") == "Service" && Yaml.Scalar(d, "spec.clusterIP") == "None");
        Assert.Equal("true", Yaml.Scalar(headless, "spec.publishNotReadyAddresses"));
        var ports = Yaml.Items(Yaml.At(headless, "spec.ports")).ToDictionary(p => Yaml.Scalar(p, "name")!, p => Yaml.Scalar(p, "port"));
        Assert.Equal("4053", ports["remoting"]);
        Assert.Equal("8558", ports["management"]);
    }

    // ---- the Akka nodes deploy/ starts, and what `pipeline node` makes of their command lines ----

    /// <summary>
    /// One Akka node as a manifest starts it: its <c>pipeline node</c> args (Kubernetes' <c>$(VAR)</c> expanded from the
    /// container's env, fieldRef values standing in as a pod IP and the namespace), the env it gets, where its volumes
    /// are mounted (and which of them is the shared run folder), and how many replicas run it.
    /// </summary>
    private sealed record Node(string Name, string Where, IReadOnlyList<string> RawArgs, IReadOnlyList<string> Args,
        IReadOnlyDictionary<string, string?> Env, IReadOnlyList<(string Path, bool Shared)> Mounts, int Replicas, YamlNode Source)
    {
        public override string ToString() => Where;
    }

    private const string PodIp = "10.0.0.5";
    private const string SecretValue = "<from a Secret>";

    /// <summary>Compose services whose command is <c>node ...</c>.</summary>
    private static List<Node> ComposeNodes()
    {
        var root = ComposeRoot();
        // Three named volumes: the run folder, the nodes' certificates and the CA's key.
        Assert.Equal(["run", "tls", "tls-ca"], Yaml.Entries(Yaml.At(root, "volumes")!).Keys.Order(StringComparer.Ordinal));
        const string shared = "run";
        var nodes = new List<Node>();
        foreach (var (name, service) in Yaml.Entries(Yaml.At(root, "services")!))
        {
            var command = Yaml.Words(Yaml.At(service, "command"));
            if (command is not ["node", ..]) continue;
            var env = Yaml.At(service, "environment") switch
            {
                YamlSequenceNode list => list.Children.Select(n => ((YamlScalarNode)n).Value!.Split('=', 2))
                    .ToDictionary(kv => kv[0], kv => kv.Length == 2 ? kv[1] : null),
                { } map => Yaml.Entries(map).ToDictionary(kv => kv.Key, kv => (kv.Value as YamlScalarNode)?.Value),
                null => new Dictionary<string, string?>(),
            };
            var mounts = Yaml.Items(Yaml.At(service, "volumes")).Select(v =>
            {
                var parts = Assert.IsType<YamlScalarNode>(v).Value!.Split(':');
                return (Path: parts[1], Shared: parts[0] == shared);
            }).ToList();
            nodes.Add(new Node(name, $"compose service {name}", command, command, env, mounts, 1, service));
        }
        return nodes;
    }

    /// <summary>Deployments whose pods carry the Akka nodes' label (critic-sim's pods do not).</summary>
    private static List<Node> KubernetesNodes()
    {
        var documents = K8sDocuments().ToList();
        var sharedClaim = SharedClaimName();
        var nodes = new List<Node>();
        foreach (var (file, deployment) in documents.Where(d => Yaml.Scalar(d.Root, "kind") == "Deployment"))
        {
            if (Labels(Yaml.At(deployment, "spec.template.metadata.labels")).GetValueOrDefault("app.kubernetes.io/name") != "pipeline") continue;
            var spec = Yaml.At(deployment, "spec.template.spec")!;
            var container = Assert.Single(Yaml.Items(Yaml.At(spec, "containers")));
            var env = Yaml.Items(Yaml.At(container, "env")).ToDictionary(e => Yaml.Scalar(e, "name")!, e => Yaml.Scalar(e, "value")
                ?? (Yaml.At(e, "valueFrom.secretKeyRef") is not null ? SecretValue
                    : Yaml.Scalar(e, "valueFrom.fieldRef.fieldPath") switch { "status.podIP" => PodIp, "metadata.namespace" => "pipeline", _ => null }));
            var raw = Yaml.Words(Yaml.At(container, "args"));
            var volumes = Yaml.Items(Yaml.At(spec, "volumes")).ToDictionary(v => Yaml.Scalar(v, "name")!, v => Yaml.Scalar(v, "persistentVolumeClaim.claimName"));
            var mounts = Yaml.Items(Yaml.At(container, "volumeMounts"))
                .Select(m => (Path: Yaml.Scalar(m, "mountPath")!, Shared: volumes.GetValueOrDefault(Yaml.Scalar(m, "name")!) == sharedClaim)).ToList();
            var name = Yaml.Scalar(deployment, "metadata.name")!;
            nodes.Add(new Node(name, $"k8s/{file} Deployment {name}", raw, raw.Select(a => ExpandEnv(a, env)).ToList(), env, mounts,
                int.Parse(Yaml.Scalar(deployment, "spec.replicas") ?? "1"), deployment));
        }
        return nodes;
    }

    private static IEnumerable<Node> AkkaNodes() => ComposeNodes().Concat(KubernetesNodes());

    /// <summary>The one PersistentVolumeClaim: the run folder every Akka pod mounts.</summary>
    private static string SharedClaimName() =>
        Yaml.Scalar(Assert.Single(K8sDocuments(), d => Yaml.Scalar(d.Root, "kind") == "PersistentVolumeClaim").Root, "metadata.name")!;

    /// <summary>
    /// The options <c>pipeline node</c> declares (src/Pipeline.Cli/NodeCommand.cs, and the shared --config, --set,
    /// --hocon-dir of CommonOptions.cs), and which of them are flags.
    /// </summary>
    private static (HashSet<string> Known, HashSet<string> Flags) NodeOptions()
    {
        var cli = RepoRoot.Combine("src", "Pipeline.Cli");
        var node = File.ReadAllText(Path.Combine(cli, "NodeCommand.cs"));
        var common = File.ReadAllText(Path.Combine(cli, "CommonOptions.cs"));
        var known = Regex.Matches(node, @"Option<[^>]+>\s+\w+\s*=\s*new\(""(--[a-z-]+)""").Select(m => m.Groups[1].Value).ToHashSet();
        foreach (Match m in Regex.Matches(common, @"Option<[^>]+>\s+(Config|Set|HoconDir)\s*=\s*new\(((?:""-{1,2}[a-z-]+""(?:,\s*)?)+)\)"))
            foreach (Match alias in Regex.Matches(m.Groups[2].Value, @"""(-{1,2}[a-z-]+)""")) known.Add(alias.Groups[1].Value);
        var flags = Regex.Matches(node, @"Option<bool>\s+\w+\s*=\s*new\(""(--[a-z-]+)""").Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Contains("--role", known);
        Assert.Contains("--set", known);
        Assert.Contains("--bootstrap", flags);
        return (known, flags);
    }

    /// <summary>The node's options and their values, as System.CommandLine reads them (--role and --seed take every word up to the next option).</summary>
    private static Dictionary<string, List<string>> Options(Node node)
    {
        var (known, flags) = NodeOptions();
        Assert.True(node.Args is ["node", ..], $"{node}: not a `pipeline node` command");
        var options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 1; i < node.Args.Count;)
        {
            var option = node.Args[i++];
            Assert.True(known.Contains(option), $"{node}: '{option}' is not an option of `pipeline node` ({string.Join(", ", known.Order())})");
            if (option == "-s") option = "--set";
            if (option == "-c") option = "--config";
            var values = options.TryGetValue(option, out var v) ? v : options[option] = [];
            if (flags.Contains(option)) continue;
            Assert.True(i < node.Args.Count && !node.Args[i].StartsWith('-'), $"{node}: {option} without a value");
            values.Add(node.Args[i++]);
            if (option is "--role" or "--seed")
                while (i < node.Args.Count && !node.Args[i].StartsWith('-')) values.Add(node.Args[i++]);
        }
        return options;
    }

    private static List<string> Values(Node node, string option) => Options(node).GetValueOrDefault(option) ?? [];

    private static string? Single(Node node, string option) => Values(node, option) switch
    {
        [] => null,
        [var one] => one,
        var many => throw new Xunit.Sdk.XunitException($"{node}: {option} given {many.Count} times"),
    };

    /// <summary>The roles as NodeCommand splits them: each --role value on commas, trimmed, duplicates removed.</summary>
    private static List<string> Roles(Node node) =>
        Values(node, "--role").SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToList();

    /// <summary>The node's settings as NodeCommand loads them: base.conf, cluster.conf, roles/&lt;role&gt;.conf, then its --set overrides.</summary>
    private static PipelineSettings NodeSettings(Node node)
    {
        Assert.True(Single(node, "--config") is null, $"{node}: --config names a file this check cannot read; load it here too");
        return PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", Roles(node).Select(r => "roles/" + r), null, Values(node, "--set"));
    }

    /// <summary>The node's full Akka configuration, as NodeCommand builds it before the ActorSystem starts (bootstrap applied).</summary>
    private static Config NodeAkkaConfig(Node node, PipelineSettings settings, BootstrapSettings bootstrap)
    {
        var port = int.Parse(Single(node, "--port") ?? settings.Hocon.GetInt("akka.remote.dot-netty.tcp.port", 4053).ToString());
        var nodeConfig = ClusterRoles.NodeConfig(settings, Single(node, "--host") ?? "127.0.0.1", port, Roles(node));
        return ClusterBootstrapSetup.Apply(nodeConfig, bootstrap with { Enabled = true });
    }

    private static readonly PipelineSettings DefaultClusterSettings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, []);

    [Fact]
    public void Every_node_runs_a_role_set_that_ClusterRoles_accepts()
    {
        var nodes = AkkaNodes().ToList();
        Assert.True(nodes.Count >= 7, $"{nodes.Count} Akka nodes: {string.Join("; ", nodes)}");
        foreach (var node in nodes)
        {
            var roles = Roles(node);
            Assert.True(roles.Count > 0, $"{node}: no --role");
            foreach (var settings in new[] { DefaultClusterSettings, NodeSettings(node) })
            {
                var refused = Record.Exception(() => ClusterRoles.Validate(roles, settings));
                Assert.True(refused is null, $"{node}: `pipeline node --role {string.Join(",", roles)}` is refused: {refused?.Message}");
            }
        }
    }

    /// <summary>A role this version does not know: refused, naming it.</summary>
    [Theory]
    [InlineData("learner,trainer")]
    [InlineData("generators")]
    [InlineData("annotater,critic")]
    public void ClusterRoles_refuses_unknown_roles(string roles)
    {
        Assert.Throws<ConfigException>(() => ClusterRoles.Validate(roles.Split(','), DefaultClusterSettings));
    }

    /// <summary>Every role may have a node of its own or share one: the learner and the buffer are singletons of their own
    /// (<see cref="BufferNodeSpec"/>), generators may hand their groups to annotator nodes (<see cref="AnnotatorNodeSpec"/>),
    /// and ONI's trainer is the rm-trainer role's singleton (<see cref="OniClusterSpec"/>).</summary>
    [Theory]
    [InlineData("learner,buffer")]
    [InlineData("learner")]
    [InlineData("buffer")]
    [InlineData("learner,critic")]
    [InlineData("buffer,generator,annotator")]
    [InlineData("generator")]
    [InlineData("annotator")]
    [InlineData("annotator,critic")]
    [InlineData("rm-trainer")]
    [InlineData("learner,buffer,rm-trainer")]
    public void ClusterRoles_accepts_each_role_alone_or_together(string roles)
        => ClusterRoles.Validate(roles.Split(','), DefaultClusterSettings);

    /// <summary>
    /// The layout: one learner node (learner and buffer singletons), generator-only nodes, and an annotator node of its own
    /// that scores every generator node's groups (a generator-only node hands them to the Up annotator nodes, see
    /// <see cref="AnnotatorNodeSpec"/>). No node combines generator and annotator.
    /// </summary>
    [Fact]
    public void Compose_and_Kubernetes_run_a_learner_node_generator_only_nodes_and_an_annotator_node()
    {
        string Kind(Node n) => string.Join(",", Roles(n).Order(StringComparer.Ordinal));
        var compose = ComposeNodes().ToDictionary(n => n.Name, Kind);
        Assert.Equal(new Dictionary<string, string>
        {
            ["learner"] = "buffer,learner",
            ["generator-1"] = "generator",
            ["generator-2"] = "generator",
            ["annotator"] = "annotator",
        }, compose);
        var k8s = KubernetesNodes().ToDictionary(n => n.Name, n => (Kind(n), n.Replicas));
        Assert.Equal(new Dictionary<string, (string, int)>
        {
            ["pipeline-learner"] = ("buffer,learner", 1),
            ["pipeline-generator"] = ("generator", 2),
            ["pipeline-annotator"] = ("annotator", 1),
        }, k8s);
        // Generator-only nodes wait (bounded) for an Up annotator node: wherever generators run, an annotator node runs too.
        foreach (var nodes in new[] { ComposeNodes(), KubernetesNodes() })
        {
            Assert.All(nodes.Where(n => Roles(n).Contains(ClusterRoles.Generator)), n => Assert.DoesNotContain(ClusterRoles.Annotator, Roles(n)));
            Assert.True(nodes.Where(n => Roles(n).Contains(ClusterRoles.Annotator)).Sum(n => n.Replicas) >= 1);
        }

        // The learner node starts the run once --wait-generators generator nodes are Up: no more than will ever run.
        var learner = Assert.Single(ComposeNodes(), n => Roles(n).Contains(ClusterRoles.Learner));
        Assert.Equal(ComposeNodes().Count(n => Roles(n).Contains(ClusterRoles.Generator)).ToString(), Single(learner, "--wait-generators"));
        var podLearner = Assert.Single(KubernetesNodes(), n => Roles(n).Contains(ClusterRoles.Learner));
        Assert.InRange(int.Parse(Single(podLearner, "--wait-generators") ?? "1"), 1,
            KubernetesNodes().Where(n => Roles(n).Contains(ClusterRoles.Generator)).Sum(n => n.Replicas));
        Assert.All(AkkaNodes().Where(n => !Roles(n).Contains(ClusterRoles.Learner)), n => Assert.Null(Single(n, "--wait-generators")));
    }

    [Fact]
    public void Every_node_runs_in_one_run_folder_on_the_shared_volume()
    {
        foreach (var nodes in new[] { ComposeNodes(), KubernetesNodes() })
        {
            var runs = nodes.Select(n => (Node: n, Run: Single(n, "--run"))).ToList();
            Assert.All(runs, r => Assert.False(string.IsNullOrEmpty(r.Run), $"{r.Node}: no --run"));
            Assert.Single(runs.Select(r => r.Run).Distinct());  // one run folder for every node
            foreach (var (node, run) in runs)
            {
                Assert.True(run!.StartsWith('/'), $"{node}: --run {run} is not an absolute path");
                // The deepest mount holding the run folder decides where it lives: it must be the shared volume.
                var holder = node.Mounts.Where(m => run == m.Path || run.StartsWith(m.Path.TrimEnd('/') + "/", StringComparison.Ordinal))
                    .OrderByDescending(m => m.Path.Length).Select(m => (bool?)m.Shared).FirstOrDefault();
                Assert.True(holder == true, $"{node}: --run {run} is not on the shared run volume (mounts: {string.Join(", ", node.Mounts)})");
            }
        }

        // Kubernetes: learner and generator pods land on different machines, so the claim must be ReadWriteMany.
        var claim = Assert.Single(K8sDocuments(), d => Yaml.Scalar(d.Root, "kind") == "PersistentVolumeClaim").Root;
        Assert.Equal(["ReadWriteMany"], Yaml.Words(Yaml.At(claim, "spec.accessModes")));
    }

    [Fact]
    public void Kubernetes_args_use_only_variables_the_container_defines_and_every_variable_is_consumed()
    {
        foreach (var node in KubernetesNodes())
        {
            var used = node.RawArgs.SelectMany(a => Regex.Matches(a, @"\$\(([A-Za-z_][A-Za-z0-9_]*)\)").Select(m => m.Groups[1].Value)).ToHashSet();
            foreach (var variable in used)
                Assert.True(node.Env.ContainsKey(variable), $"{node}: args use $({variable}), which its env does not define (Kubernetes would pass it on literally)");
            var named = NamedVariables(node);
            foreach (var variable in node.Env.Keys)
                Assert.True(used.Contains(variable) || named.Contains(variable),
                    $"{node}: env {variable} is neither expanded in args nor named by a *-env setting: `pipeline node` does not read it");
        }
    }

    [Fact]
    public void Compose_passes_only_environment_variables_a_setting_names_and_no_substitutions_in_commands()
    {
        foreach (var node in ComposeNodes())
        {
            Assert.All(node.RawArgs, a => Assert.DoesNotContain("$", a));
            var named = NamedVariables(node);
            foreach (var variable in node.Env.Keys)
                Assert.True(named.Contains(variable), $"{node}: environment {variable} is not named by a *-env setting: `pipeline node` does not read it");
        }
        foreach (var file in YamlFiles())
        {
            var text = File.ReadAllText(file);
            foreach (var unread in new[] { "PIPELINE_BIND_HOSTNAME", "PIPELINE_PUBLIC_HOSTNAME" })
                Assert.DoesNotContain(unread, text);
        }
    }

    /// <summary>Variables the code reads because a setting names them (pipeline.rewards.critic.api-key-env, pipeline.cluster.tls.certificate-password-env).</summary>
    private static HashSet<string> NamedVariables(Node node)
    {
        var settings = NodeSettings(node);
        return new[] { "pipeline.rewards.critic.api-key-env", "pipeline.cluster.tls.certificate-password-env" }
            .Select(key => settings.Hocon.GetString(key, "")).Where(v => v.Length > 0).ToHashSet();
    }

    [Fact]
    public void Compose_nodes_join_by_Cluster_Bootstrap_over_config_discovery_of_every_node_service()
    {
        var nodes = ComposeNodes();
        foreach (var node in nodes)
        {
            var options = Options(node);
            Assert.True(options.ContainsKey("--bootstrap"), $"{node}: without --bootstrap nothing serves the /ready its healthcheck calls");
            Assert.False(options.ContainsKey("--seed"), $"{node}: --seed and --bootstrap exclude each other");
            var settings = NodeSettings(node);
            var bootstrap = BootstrapSettings.From(settings.Hocon);
            Assert.Equal(BootstrapDiscovery.Config, bootstrap.Discovery);
            // Every node service's management endpoint, by its service name, and nothing else.
            Assert.Equal(nodes.Select(n => $"{n.Name}:{bootstrap.ManagementPort}").Order(StringComparer.Ordinal),
                bootstrap.ConfigEndpoints.Select(e => $"{e.Host}:{e.Port}").Order(StringComparer.Ordinal));
            // All of them: the cluster forms once every node service answers.
            Assert.Equal(nodes.Count, bootstrap.RequiredContactPoints);

            // Bound on every interface inside the container, advertised as the service name the others dial.
            Assert.Equal("0.0.0.0", Single(node, "--host"));
            var akka = NodeAkkaConfig(node, settings, bootstrap);
            Assert.Equal(node.Name, akka.GetString("akka.remote.dot-netty.tcp.public-hostname"));
            Assert.Equal(node.Name, akka.GetString("akka.management.http.hostname"));
            Assert.Equal("0.0.0.0", akka.GetString("akka.management.http.bind-hostname"));

            // The healthcheck asks this node's management endpoint for /ready.
            var test = Yaml.Words(Yaml.At(node.Source, "healthcheck.test"));
            var url = new Uri(Assert.Single(test, w => w.StartsWith("http", StringComparison.Ordinal)));
            Assert.Equal(bootstrap.ManagementPort, url.Port);
            Assert.Equal(ManagementEndpoint.ReadyPath, url.AbsolutePath);
            Assert.Contains(url.Host, new[] { "127.0.0.1", "localhost" });
        }
    }

    /// <summary>
    /// The compose binding, run: the four Akka services' own args (--host 0.0.0.0, the advertised name in public-hostname,
    /// config discovery, mutual TLS), with "localhost" for every service name, free ports, the four management endpoints as
    /// contact points and the certs service's `pipeline certs` output in a temporary folder instead of the tls volume:
    /// they form one cluster through Cluster Bootstrap over TLS, each advertising the name with its own roles, and /ready,
    /// bound on every interface, answers 200 on 127.0.0.1. Meanwhile two intruders dial the learner node: one with a
    /// certificate from a second `pipeline certs` CA (it trusts both CAs, so the refusal is the cluster's), one without
    /// TLS. Neither is ever a member while the four become Up. (Membership only: no run starts.)
    /// </summary>
    [Fact]
    public async Task Compose_nodes_form_one_TLS_cluster_and_nodes_without_the_runs_CA_or_without_TLS_never_join()
    {
        var expectedRoles = new Dictionary<string, string>
        {
            ["learner"] = "buffer,learner",
            ["generator-1"] = "generator",
            ["generator-2"] = "generator",
            ["annotator"] = "annotator",
        };
        Assert.Equal(expectedRoles.Keys.Order(StringComparer.Ordinal), ComposeNodes().Select(n => n.Name).Order(StringComparer.Ordinal));
        var names = expectedRoles.Keys.ToArray();
        var ports = names.Select(_ => (Remote: FreePort(), Management: FreePort())).ToList();
        var endpoints = string.Join(", ", ports.Select(p => $"\"localhost:{p.Management}\""));
        var dir = Directory.CreateTempSubdirectory("pipeline-compose-tls-").FullName;
        var systems = new List<ActorSystem>();
        try
        {
            // As the certs service does it, into a folder standing in for the tls volume.
            var (tlsDir, caDir) = CertsServiceOutput(dir);
            var foreign = Path.Combine(dir, "foreign");
            ClusterCertificates.Issue(foreign, ["learner"]);
            File.WriteAllText(Path.Combine(dir, "both-cas.pem"),
                File.ReadAllText(Path.Combine(tlsDir, ClusterCertificates.CaCertificateFile)) + File.ReadAllText(Path.Combine(foreign, ClusterCertificates.CaCertificateFile)));
            Assert.NotEqual(File.ReadAllText(Path.Combine(caDir, ClusterCertificates.CaCertificateFile)), File.ReadAllText(Path.Combine(foreign, ClusterCertificates.CaCertificateFile)));

            foreach (var (name, (remote, management)) in names.Zip(ports))
            {
                var service = Assert.Single(ComposeNodes(), n => n.Name == name);
                var args = service.Args.Select(a => a.Replace($"public-hostname={name}", "public-hostname=localhost", StringComparison.Ordinal)
                    .Replace("=" + ComposeTlsMount + "/", "=" + tlsDir + "/", StringComparison.Ordinal)).ToList();
                Assert.Contains("akka.remote.dot-netty.tcp.public-hostname=localhost", args);
                args[args.IndexOf("--port") + 1] = remote.ToString();
                args.AddRange(["--set", $"pipeline.cluster.bootstrap.management-port={management}",
                    "--set", $"pipeline.cluster.bootstrap.config-endpoints=[{endpoints}]",
                    "--set", $"pipeline.cluster.bootstrap.required-contact-points={names.Length}",
                    "--set", "akka.management.cluster.bootstrap.contact-point-discovery.stable-margin=1s",
                    "--set", "akka.management.cluster.bootstrap.contact-point-discovery.interval=300ms",
                    "--set", "akka.management.cluster.bootstrap.contact-point.probe-interval=500ms",
                    "--set", "akka.loglevel=WARNING"]);
                var node = service with { Args = args };
                var settings = NodeSettings(node);
                var tls = TlsSettings.From(settings.Hocon);
                Assert.True(tls.Enabled, $"{node}: TLS off");
                Assert.Equal(Path.Combine(tlsDir, name + ".pfx"), tls.CertificatePath);
                var config = NodeAkkaConfig(node, settings, BootstrapSettings.From(settings.Hocon));
                RemotingTls.RefuseInsecureBinding(config, tls, insecure: false);
                systems.Add(RemotingTls.CreateSystem("pipeline", config, tls));
            }
            foreach (var (system, (_, management)) in systems.Zip(ports))
                Assert.Equal(new Uri($"http://localhost:{management}/"), await ClusterBootstrapSetup.StartAsync(system).WaitAsync(TimeSpan.FromSeconds(15)));

            // The intruders dial the learner node's remoting port on loopback, at once.
            var learnerAddress = new Address(RemotingTls.TlsProtocol, "pipeline", "localhost", ports[0].Remote);
            var intruders = new List<(string What, ActorSystem System)>();
            foreach (var (what, tls, protocol) in new[]
                     {
                         ("foreign CA", new TlsSettings(true, Path.Combine(foreign, "learner.pfx"), "", Path.Combine(dir, "both-cas.pem"), true, false), RemotingTls.TlsProtocol),
                         ("no TLS", TlsSettings.Disabled, RemotingTls.PlainProtocol),
                     })
            {
                var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", ["roles/generator"], null, ["akka.loglevel=ERROR"]);
                var intruder = RemotingTls.CreateSystem("pipeline", ClusterRoles.NodeConfig(settings, "127.0.0.1", 0, ["generator"]), tls);
                systems.Add(intruder);
                intruders.Add((what, intruder));
                Akka.Cluster.Cluster.Get(intruder).JoinSeedNodes([new Address(protocol, learnerAddress.System, learnerAddress.Host, learnerAddress.Port)]);
            }
            var window = System.Diagnostics.Stopwatch.StartNew();
            var good = systems.Take(names.Length).ToList();
            var seen = new HashSet<Address>();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(40);
            // The four Up on every one of them, and the intruders given at least 8 s (a good node joins in 1-3 s here).
            while (!good.All(s => Akka.Cluster.Cluster.Get(s).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == names.Length)
                   || window.Elapsed < TimeSpan.FromSeconds(8))
            {
                foreach (var s in good) seen.UnionWith(Akka.Cluster.Cluster.Get(s).State.Members.Select(m => m.Address));
                Assert.True(DateTime.UtcNow < until, "not one cluster within 40 s: " + string.Join(" | ", good.Select(s =>
                    string.Join(", ", Akka.Cluster.Cluster.Get(s).State.Members.Select(m => $"{m.Address} {m.Status}")))));
                await Task.Delay(200);
            }
            foreach (var s in good) seen.UnionWith(Akka.Cluster.Cluster.Get(s).State.Members.Select(m => m.Address));
            Assert.Equal(good.Select(s => Akka.Cluster.Cluster.Get(s).SelfAddress).ToHashSet(), seen);
            Assert.All(good, s => Assert.Equal(RemotingTls.TlsProtocol, Akka.Cluster.Cluster.Get(s).SelfAddress.Protocol));
            foreach (var (what, intruder) in intruders)
                Assert.True(Akka.Cluster.Cluster.Get(intruder).State.Members.All(m => m.Status != Akka.Cluster.MemberStatus.Up),
                    $"the intruder with {what} is Up: {string.Join(", ", Akka.Cluster.Cluster.Get(intruder).State.Members)}");

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            foreach (var (system, (remote, management)) in good.Zip(ports))
            {
                var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
                Assert.Equal(("localhost", remote), (self.Host, self.Port));
                using var ready = await http.GetAsync($"http://127.0.0.1:{management}{ManagementEndpoint.ReadyPath}");
                Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
            }
            var roles = good.Select(s => string.Join(",", Akka.Cluster.Cluster.Get(s).SelfMember.Roles.Where(r => !r.StartsWith("dc-", StringComparison.Ordinal)).Order()));
            Assert.Equal(names.Select(n => expectedRoles[n]), roles);
        }
        finally
        {
            await Task.WhenAll(systems.Select(s => s.Terminate())).WaitAsync(TimeSpan.FromSeconds(30));
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Where the compose nodes mount the tls volume.</summary>
    private const string ComposeTlsMount = "/data/tls";

    /// <summary>
    /// Runs what the compose service certs runs (its command's `pipeline certs` options), with its volumes' mount points
    /// mapped into <paramref name="dir"/>; returns the folders standing in for the tls and tls-ca volumes.
    /// </summary>
    private static (string Tls, string Ca) CertsServiceOutput(string dir)
    {
        var command = Yaml.Words(Yaml.At(ComposeRoot(), "services.certs.command"));
        Assert.Equal("certs", command[0]);
        var mounts = Yaml.Items(Yaml.At(ComposeRoot(), "services.certs.volumes")).Select(v => ((YamlScalarNode)v).Value!.Split(':'))
            .ToDictionary(p => p[1], p => Path.Combine(dir, p[0]));
        string Local(string path) => mounts.TryGetValue(path, out var local) ? local : throw new Xunit.Sdk.XunitException($"certs writes {path}, which is no volume of it");
        var outDir = Local(After(command, "--out")!);
        var caDir = Local(After(command, "--ca-dir")!);
        ClusterCertificates.Issue(outDir, After(command, "--nodes")!.Split(','), caDir);
        return (outDir, caDir);
    }

    /// <summary>
    /// Every Akka node in compose and Kubernetes runs mutual TLS with its certificate and the CA from a read-only mount of a
    /// secret (compose: the tls volume the certs service fills, with a certificate for that very service; Kubernetes: a
    /// Secret volume, the keystore password from a Secret). None passes --insecure, and each would be refused with TLS off.
    /// </summary>
    [Fact]
    public void Every_node_runs_mutual_TLS_with_certificates_from_a_mounted_secret()
    {
        var certs = Yaml.Words(Yaml.At(ComposeRoot(), "services.certs.command"));
        var certsNodes = After(certs, "--nodes")!.Split(',');
        Assert.Equal(ComposeTlsMount, After(certs, "--out"));
        Assert.DoesNotContain(Yaml.Items(Yaml.At(ComposeRoot(), "services.certs.volumes")), v => ((YamlScalarNode)v).Value!.StartsWith("run:", StringComparison.Ordinal));
        foreach (var node in AkkaNodes())
        {
            Assert.False(Options(node).ContainsKey("--insecure"), $"{node}: --insecure");
            var settings = NodeSettings(node);
            var tls = TlsSettings.From(settings.Hocon);
            Assert.True(tls.Enabled, $"{node}: pipeline.cluster.tls.enabled is off");
            Assert.True(tls.RequireMutualAuthentication, $"{node}: mutual authentication off");
            var config = NodeAkkaConfig(node, settings, BootstrapSettings.From(settings.Hocon));
            RemotingTls.RefuseInsecureBinding(config, tls, insecure: false);
            // The same node with TLS off: refused, since it binds a non-loopback address.
            var plain = node with { Args = [.. node.Args, "--set", "pipeline.cluster.tls.enabled=off"] };
            var plainSettings = NodeSettings(plain);
            var refused = Assert.Throws<ConfigException>(() => RemotingTls.RefuseInsecureBinding(
                NodeAkkaConfig(plain, plainSettings, BootstrapSettings.From(plainSettings.Hocon)), TlsSettings.From(plainSettings.Hocon), insecure: false));
            Assert.Contains("pipeline.cluster.tls.enabled", refused.Message);

            var mount = node.Mounts.Where(m => tls.CertificatePath.StartsWith(m.Path.TrimEnd('/') + "/", StringComparison.Ordinal)).ToList();
            Assert.True(mount.Count == 1, $"{node}: certificate-path {tls.CertificatePath} is on no mount ({string.Join(", ", node.Mounts)})");
            Assert.StartsWith(mount[0].Path.TrimEnd('/') + "/", tls.CaPath);
            if (node.Where.StartsWith("compose", StringComparison.Ordinal))
            {
                var volume = Yaml.Items(Yaml.At(node.Source, "volumes")).Select(v => ((YamlScalarNode)v).Value!).Single(v => v.Split(':')[1] == mount[0].Path);
                Assert.Equal($"tls:{ComposeTlsMount}:ro", volume);
                Assert.Equal($"{ComposeTlsMount}/{node.Name}.pfx", tls.CertificatePath);
                Assert.Equal($"{ComposeTlsMount}/{ClusterCertificates.CaCertificateFile}", tls.CaPath);
                Assert.Contains(node.Name, certsNodes);
                Assert.Equal("service_completed_successfully", Yaml.Scalar(node.Source, "depends_on.certs.condition"));
                Assert.Equal("", tls.CertificatePasswordEnv);
            }
            else
            {
                var spec = Yaml.At(node.Source, "spec.template.spec")!;
                var container = Assert.Single(Yaml.Items(Yaml.At(spec, "containers")));
                var volumeMount = Assert.Single(Yaml.Items(Yaml.At(container, "volumeMounts")), m => Yaml.Scalar(m, "mountPath") == mount[0].Path);
                Assert.Equal("true", Yaml.Scalar(volumeMount, "readOnly"));
                var volume = Assert.Single(Yaml.Items(Yaml.At(spec, "volumes")), v => Yaml.Scalar(v, "name") == Yaml.Scalar(volumeMount, "name"));
                var component = Labels(Yaml.At(node.Source, "spec.template.metadata.labels"))["app.kubernetes.io/component"];
                Assert.Equal($"pipeline-tls-{component}", Yaml.Scalar(volume, "secret.secretName"));
                Assert.Equal("PIPELINE_TLS_PASSWORD", tls.CertificatePasswordEnv);
                Assert.Equal(SecretValue, node.Env[tls.CertificatePasswordEnv]);
                var password = Assert.Single(Yaml.Items(Yaml.At(container, "env")), e => Yaml.Scalar(e, "name") == tls.CertificatePasswordEnv);
                Assert.Equal("pipeline-tls-password", Yaml.Scalar(password, "valueFrom.secretKeyRef.name"));
            }
        }
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, 0);
        listener.Start();
        try { return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port; }
        finally { listener.Stop(); }
    }

    [Fact]
    public void Compose_runs_the_learner_two_generator_nodes_the_annotator_node_and_critic_sim_with_healthchecks()
    {
        var services = Yaml.Entries(Yaml.At(ComposeRoot(), "services")!);
        Assert.Equal(["annotator", "certs", "critic-sim", "generator-1", "generator-2", "learner"], services.Keys.Order(StringComparer.Ordinal));
        var critic = Yaml.Words(Yaml.At(services["critic-sim"], "command"));
        Assert.Equal(["critic-sim", "--port", "8089", "--task", "sql"], critic.Take(5));
        foreach (var (name, service) in services.Where(s => s.Key != "certs"))  // certs runs once and exits
        {
            var test = Yaml.Words(Yaml.At(service, "healthcheck.test"));
            Assert.True(test.Count > 1, $"{name}: no healthcheck");
        }
        Assert.Contains("http://127.0.0.1:8089/v1/models", Yaml.Words(Yaml.At(services["critic-sim"], "healthcheck.test")));

        // The GPU override changes only services that exist.
        var gpu = Assert.Single(Yaml.LoadAll(File.ReadAllText(Path.Combine(Deploy, "compose", "docker-compose.gpu.yml")))).RootNode;
        Assert.All(Yaml.Entries(Yaml.At(gpu, "services")!).Keys, s => Assert.Contains(s, services.Keys));
        Assert.NotNull(Yaml.At(gpu, "services.learner.deploy.resources.reservations.devices"));
    }

    [Theory]
    [InlineData("pipeline-learner", "learner")]
    [InlineData("pipeline-generator", "generator")]
    [InlineData("pipeline-annotator", "annotator")]
    public void Each_Kubernetes_node_Deployment_has_membership_probes_pod_labels_and_ports(string name, string component)
    {
        var node = Assert.Single(KubernetesNodes(), n => n.Name == name);
        var deployment = node.Source;
        var selector = Labels(Yaml.At(deployment, "spec.selector.matchLabels"));
        var podLabels = Labels(Yaml.At(deployment, "spec.template.metadata.labels"));
        Assert.All(selector, kv => Assert.Equal(kv.Value, podLabels.GetValueOrDefault(kv.Key)));
        // Cluster Bootstrap discovers Akka nodes by this label; critic-sim must not carry it.
        Assert.Equal("pipeline", podLabels["app.kubernetes.io/name"]);
        Assert.Equal(component, podLabels["app.kubernetes.io/component"]);
        Assert.Equal("pipeline", Yaml.Scalar(deployment, "spec.template.spec.serviceAccountName"));

        var container = Assert.Single(Yaml.Items(Yaml.At(deployment, "spec.template.spec.containers")));
        Assert.Equal("status.podIP", Yaml.Scalar(Assert.Single(Yaml.Items(Yaml.At(container, "env")), e => Yaml.Scalar(e, "name") == "POD_IP"),
            "valueFrom.fieldRef.fieldPath"));
        Assert.Equal(["node", "--role", "$(PIPELINE_ROLE)"], node.RawArgs.Take(3));

        Assert.Equal("/ready", Yaml.Scalar(container, "readinessProbe.httpGet.path"));
        Assert.Equal("management", Yaml.Scalar(container, "readinessProbe.httpGet.port"));
        Assert.Equal("/alive", Yaml.Scalar(container, "livenessProbe.httpGet.path"));
        Assert.Equal("management", Yaml.Scalar(container, "livenessProbe.httpGet.port"));
        var ports = Yaml.Items(Yaml.At(container, "ports")).ToDictionary(p => Yaml.Scalar(p, "name")!, p => Yaml.Scalar(p, "containerPort"));
        Assert.Equal("4053", ports["remoting"]);
        Assert.Equal("8558", ports["management"]);
    }

    /// <summary>
    /// The args as the container runs them, loaded the way <c>pipeline node</c> loads them: the layered HOCON with the
    /// args' --set overrides, then its node configuration with the bootstrap block turned into Akka configuration.
    /// </summary>
    [Theory]
    [InlineData("pipeline-learner")]
    [InlineData("pipeline-generator")]
    [InlineData("pipeline-annotator")]
    public void Each_Kubernetes_node_joins_by_Cluster_Bootstrap_discovering_its_own_pod_labels_through_the_Kubernetes_API(string name)
    {
        var documents = K8sDocuments().Select(d => d.Root).ToList();
        var node = Assert.Single(KubernetesNodes(), n => n.Name == name);
        var deployment = node.Source;
        var podLabels = Labels(Yaml.At(deployment, "spec.template.metadata.labels"));
        var container = Assert.Single(Yaml.Items(Yaml.At(deployment, "spec.template.spec.containers")));
        var options = Options(node);

        Assert.True(options.ContainsKey("--bootstrap"));
        Assert.False(options.ContainsKey("--seed"));
        Assert.Equal(PodIp, Single(node, "--host"));   // remoting and management bind and advertise the pod IP
        var settings = NodeSettings(node);
        var bootstrap = BootstrapSettings.From(settings.Hocon);
        Assert.Equal(BootstrapDiscovery.KubernetesApi, bootstrap.Discovery);

        // The selector picks this Deployment's pods (and the headless Service's), not critic-sim's.
        var selector = Selector(bootstrap.PodLabelSelector.Replace("%s", bootstrap.ServiceName, StringComparison.Ordinal));
        Assert.NotEmpty(selector);
        Assert.All(selector, kv => Assert.Equal(kv.Value, podLabels.GetValueOrDefault(kv.Key)));
        var headless = Assert.Single(documents, d => Yaml.Scalar(d, "kind") == "Service" && Yaml.Scalar(d, "spec.clusterIP") == "None");
        Assert.Equal(selector, Labels(Yaml.At(headless, "spec.selector")));
        var criticSim = Assert.Single(documents, d => Yaml.Scalar(d, "kind") == "Deployment" && Yaml.Scalar(d, "metadata.name") == "critic-sim");
        Assert.False(selector.All(kv => Labels(Yaml.At(criticSim, "spec.template.metadata.labels")).GetValueOrDefault(kv.Key) == kv.Value));

        // Contact points are probed on the container port named as discovery's port name, where the probes also go.
        var ports = Yaml.Items(Yaml.At(container, "ports")).ToDictionary(p => Yaml.Scalar(p, "name")!, p => Yaml.Scalar(p, "containerPort"));
        Assert.Equal(ports["remoting"], Single(node, "--port"));
        var akka = NodeAkkaConfig(node, settings, bootstrap);
        Assert.Equal("kubernetes-api", akka.GetString("akka.discovery.method"));
        var portName = akka.GetString("akka.management.cluster.bootstrap.contact-point-discovery.port-name");
        Assert.Equal(ports[portName], akka.GetInt("akka.management.http.port").ToString());
        Assert.Equal(PodIp, akka.GetString("akka.management.http.hostname"));
        Assert.Equal(PodIp, akka.GetString("akka.remote.dot-netty.tcp.hostname"));
        Assert.Equal(portName, Yaml.Scalar(container, "readinessProbe.httpGet.port"));
        Assert.Equal(portName, Yaml.Scalar(container, "livenessProbe.httpGet.port"));
        Assert.Equal(ManagementEndpoint.ReadyPath, Yaml.Scalar(container, "readinessProbe.httpGet.path"));
        Assert.Equal(ManagementEndpoint.AlivePath, Yaml.Scalar(container, "livenessProbe.httpGet.path"));
        var initialPods = KubernetesNodes().Sum(n => n.Replicas);
        Assert.InRange(bootstrap.RequiredContactPoints, 2, initialPods);

        // The pod runs as the ServiceAccount the Role lets list pods, in the Role's namespace, with its token mounted.
        var binding = Assert.Single(documents, d => Yaml.Scalar(d, "kind") == "RoleBinding");
        Assert.Equal(Yaml.Scalar(deployment, "spec.template.spec.serviceAccountName"), Yaml.Scalar(Yaml.Items(Yaml.At(binding, "subjects"))[0], "name"));
        Assert.Equal(Yaml.Scalar(deployment, "metadata.namespace"), Yaml.Scalar(binding, "metadata.namespace"));
        Assert.NotEqual("false", Yaml.Scalar(deployment, "spec.template.spec.automountServiceAccountToken"));
    }

    private static string? After(IReadOnlyList<string> args, string flag)
    {
        var at = args.ToList().IndexOf(flag);
        return at >= 0 && at + 1 < args.Count ? args[at + 1] : null;
    }

    /// <summary>Kubernetes' $(VAR) expansion in args; an unknown variable stays as written, as Kubernetes leaves it.</summary>
    private static string ExpandEnv(string arg, IReadOnlyDictionary<string, string?> env) =>
        Regex.Replace(arg, @"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", m => env.GetValueOrDefault(m.Groups[1].Value) ?? m.Value);

    /// <summary>An equality-based label selector, "k=v,k2=v2".</summary>
    private static Dictionary<string, string?> Selector(string selector) =>
        selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(term => term.Split('=', 2)).ToDictionary(kv => kv[0], kv => (string?)(kv.Length == 2 ? kv[1] : null));

    [Fact]
    public void The_learner_asks_for_a_GPU_and_is_scheduled_on_a_GPU_node()
    {
        var learner = K8sDocuments().Single(d => Yaml.Scalar(d.Root, "metadata.name") == "pipeline-learner").Root;
        var spec = Yaml.At(learner, "spec.template.spec")!;
        var container = Yaml.Items(Yaml.At(spec, "containers"))[0];
        Assert.Equal("1", GpuLimit(container));
        Assert.NotEmpty(Yaml.Entries(Yaml.At(spec, "nodeSelector")!));
        Assert.Contains(Yaml.Items(Yaml.At(spec, "tolerations")), t => Yaml.Scalar(t, "key") == "nvidia.com/gpu");
        Assert.Equal("Recreate", Yaml.Scalar(learner, "spec.strategy.type"));
        foreach (var cpuOnly in new[] { "pipeline-generator", "pipeline-annotator" })
        {
            var deployment = K8sDocuments().Single(d => Yaml.Scalar(d.Root, "metadata.name") == cpuOnly).Root;
            Assert.Null(GpuLimit(Yaml.Items(Yaml.At(deployment, "spec.template.spec.containers"))[0]));
        }
    }

    private static Dictionary<string, string?> Labels(YamlNode? node) =>
        Yaml.Entries(node ?? new YamlMappingNode()).ToDictionary(kv => kv.Key, kv => (kv.Value as YamlScalarNode)?.Value);

    // Keys with dots ("nvidia.com/gpu") cannot go through the dotted path helper.
    private static string? GpuLimit(YamlNode container) =>
        Yaml.At(container, "resources.limits") is { } limits && Yaml.Entries(limits).TryGetValue("nvidia.com/gpu", out var v) ? ((YamlScalarNode)v).Value : null;

    /// <summary>
    /// The annotator node runs the annotation stage, which calls the critic: it uses it, points it at critic-sim and names
    /// the key's variable, which it gets from a Secret (Kubernetes) or the host's environment (compose). The learner node
    /// and the generator-only nodes call no reward source and get no key.
    /// </summary>
    [Fact]
    public void The_annotator_node_calls_the_critic_at_critic_sim_with_the_key_from_a_Secret_or_the_host_environment()
    {
        var criticSimPort = After(Yaml.Words(Yaml.At(ComposeRoot(), "services.critic-sim.command")), "--port");
        var keyed = AkkaNodes().Where(n => NodeSettings(n).Hocon.GetString("pipeline.rewards.critic.api-key-env", "") != "").Select(n => n.Where).Order(StringComparer.Ordinal);
        Assert.Equal(["compose service annotator", "k8s/annotator.yaml Deployment pipeline-annotator"], keyed);
        foreach (var node in AkkaNodes())
        {
            var settings = NodeSettings(node);
            Assert.Contains("critic", settings.Hocon.GetStringList("pipeline.rewards.use"));  // the same sources on every node
            // An optional critic holds nothing: behind any HTTP round trip its signal would come after its group had gone on.
            Assert.True(settings.Hocon.GetBoolean("pipeline.rewards.sources.critic.required"), $"{node.Where}: the critic is not required");
            var baseUrl = new Uri(settings.Hocon.GetString("pipeline.rewards.critic.base-url"));
            Assert.Equal(("critic-sim", criticSimPort), (baseUrl.Host, baseUrl.Port.ToString()));
            var keyEnv = settings.Hocon.GetString("pipeline.rewards.critic.api-key-env", "");
            if (!Roles(node).Contains(ClusterRoles.Annotator))
            {
                Assert.Equal("", keyEnv);
                Assert.DoesNotContain(node.Env.Keys, k => k.Contains("KEY", StringComparison.Ordinal));
                continue;
            }
            Assert.Equal("PIPELINE_CRITIC_API_KEY", keyEnv);
            Assert.Equal(node.Where.StartsWith("compose", StringComparison.Ordinal) ? "${PIPELINE_CRITIC_API_KEY:-}" : SecretValue, node.Env[keyEnv]);
        }
        var annotator = KubernetesNodes().Single(n => n.Name == "pipeline-annotator").Source;
        var container = Yaml.Items(Yaml.At(annotator, "spec.template.spec.containers"))[0];
        var key = Assert.Single(Yaml.Items(Yaml.At(container, "env")), e => Yaml.Scalar(e, "name") == "PIPELINE_CRITIC_API_KEY");
        Assert.Null(Yaml.At(key, "value"));
        Assert.Equal(("pipeline-critic", "api-key"), (Yaml.Scalar(key, "valueFrom.secretKeyRef.name"), Yaml.Scalar(key, "valueFrom.secretKeyRef.key")));
        var generator = KubernetesNodes().Single(n => n.Name == "pipeline-generator").Source;
        Assert.DoesNotContain(Yaml.Items(Yaml.At(Yaml.Items(Yaml.At(generator, "spec.template.spec.containers"))[0], "env")),
            e => Yaml.Scalar(e, "name") == "PIPELINE_CRITIC_API_KEY" || Yaml.Scalar(e, "valueFrom.secretKeyRef.name") == "pipeline-critic");
        Assert.DoesNotContain(K8sDocuments(), d => Yaml.Scalar(d.Root, "kind") == "Secret");
        var criticService = Assert.Single(K8sDocuments(), d => Yaml.Scalar(d.Root, "kind") == "Service" && Yaml.Scalar(d.Root, "metadata.name") == "critic-sim").Root;
        Assert.Equal(criticSimPort, Yaml.Scalar(Yaml.Items(Yaml.At(criticService, "spec.ports"))[0], "port"));
    }

    [Fact]
    public void No_manifest_holds_a_literal_credential()
    {
        foreach (var file in YamlFiles())
            foreach (var doc in Yaml.LoadAll(File.ReadAllText(file)))
            {
                var found = Yaml.LiteralSecrets(doc.RootNode);
                Assert.True(found.Count == 0, $"{file}: {string.Join("; ", found)}");
            }
    }

    [Theory]
    [InlineData("environment:\n  PIPELINE_CRITIC_API_KEY: abc123")]
    [InlineData("environment:\n  PIPELINE_CRITIC_API_KEY: ${PIPELINE_CRITIC_API_KEY:-sk-live-default}")]
    [InlineData("environment:\n  - OPENAI_API_KEY=abc123")]
    [InlineData("env:\n  - name: PIPELINE_CRITIC_API_KEY\n    value: abc123")]
    [InlineData("args: [\"--header\", \"Authorization: Bearer abcdefghijklmnop1234\"]")]
    [InlineData("x: sk-proj-abcdefghijklmnopqrstuvwxyz")]
    [InlineData("apiVersion: v1\nkind: Secret\nmetadata: {name: k}\nstringData:\n  api-key: abc123")]
    [InlineData("args: [\"--set\", \"pipeline.rewards.critic.api-key=abc123\"]")]
    [InlineData("args: [\"--set\", \"pipeline.rewards.critic.api-key-env=sk-proj-abcdefghijklmnopqrstuvwxyz\"]")]
    public void The_credential_scan_catches_literal_keys(string yaml)
    {
        var doc = Assert.Single(Yaml.LoadAll(yaml));
        Assert.NotEmpty(Yaml.LiteralSecrets(doc.RootNode));
    }

    [Theory]
    [InlineData("environment:\n  PIPELINE_CRITIC_API_KEY: ${PIPELINE_CRITIC_API_KEY:-}")]
    [InlineData("environment:\n  - PIPELINE_CRITIC_API_KEY")]
    [InlineData("env:\n  - name: PIPELINE_CRITIC_API_KEY\n    valueFrom:\n      secretKeyRef: {name: pipeline-critic, key: api-key}")]
    [InlineData("automountServiceAccountToken: false")]
    [InlineData("args: [\"--set\", \"pipeline.rewards.critic.api-key-env=PIPELINE_CRITIC_API_KEY\"]")]
    [InlineData("command: [node, --set, cluster.tls.certificate-password-env=PIPELINE_TLS_PASSWORD]")]
    public void The_credential_scan_accepts_references(string yaml)
    {
        var doc = Assert.Single(Yaml.LoadAll(yaml));
        Assert.Empty(Yaml.LiteralSecrets(doc.RootNode));
    }

    [Theory]
    [InlineData("Dockerfile", "noble")]
    [InlineData("Dockerfile.gpu", "ubuntu24.04")]
    public void The_Dockerfiles_restore_every_project_publish_the_cli_and_run_on_a_GCC_13_plus_base(string file, string baseMarker)
    {
        var text = File.ReadAllText(Path.Combine(Deploy, "docker", file));
        var copied = Regex.Matches(text, @"^COPY (src/\S+\.csproj) ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal).ToList();
        var projects = Directory.EnumerateFiles(RepoRoot.Combine("src"), "*.csproj", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(RepoRoot.Path, p).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(projects, copied);  // a project missing from the restore layer breaks the image build

        Assert.Matches(@"FROM mcr\.microsoft\.com/dotnet/sdk:\$\{DOTNET_VERSION\}-noble AS build", text);
        Assert.Matches(@"ARG DOTNET_VERSION=10\.0", text);
        Assert.Contains("dotnet publish src/Pipeline.Cli -c Release -r linux-x64", text);
        Assert.Contains("ENTRYPOINT [\"pipeline\"]", text);
        var runtimeBase = Regex.Matches(text, @"^FROM (\S+)", RegexOptions.Multiline).Last().Groups[1].Value;
        var resolved = Regex.Replace(runtimeBase, @"\$\{(\w+)\}", m => Regex.Match(text, $@"ARG {m.Groups[1].Value}=(\S+)").Groups[1].Value);
        Assert.Contains(baseMarker, resolved);
    }

    /// <summary>
    /// A fresh named volume takes the ownership of the image folder it is mounted on: every named volume's mount point
    /// (the run folder, the certs service's tls and tls-ca) must exist in the image and belong to the app user.
    /// </summary>
    [Theory]
    [InlineData("Dockerfile", "\"$APP_UID\"")]
    [InlineData("Dockerfile.gpu", "1654")]
    public void The_images_own_the_named_volumes_mount_points(string file, string user)
    {
        var text = File.ReadAllText(Path.Combine(Deploy, "docker", file));
        var root = ComposeRoot();
        var named = Yaml.Entries(Yaml.At(root, "volumes")!).Keys.ToHashSet();
        var mounts = Yaml.Entries(Yaml.At(root, "services")!).Values
            .SelectMany(service => Yaml.Items(Yaml.At(service, "volumes")).Select(v => ((YamlScalarNode)v).Value!.Split(':')))
            .Where(parts => named.Contains(parts[0])).Select(parts => parts[1]).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["/data/runs", "/data/tls", "/data/tls-ca"], mounts);
        var mkdir = Regex.Match(text, @"mkdir -p ([^&]+) && chown -R (\S+) /data");
        Assert.True(mkdir.Success, $"{file}: no `mkdir -p ... && chown -R ... /data`");
        Assert.Equal(mounts, mkdir.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        Assert.Equal(user, mkdir.Groups[2].Value);
        Assert.Contains($"USER {user.Trim('"')}", text);
    }

    [Fact]
    public void The_GPU_Dockerfile_builds_the_cuda_and_gpu_backends()
    {
        var text = File.ReadAllText(Path.Combine(Deploy, "docker", "Dockerfile.gpu"));
        Assert.Contains("ARG TORCH_BACKEND=cuda", text);
        Assert.Contains("ARG ONNX_BACKEND=gpu", text);
        Assert.Contains("-p:TorchBackend=${TORCH_BACKEND} -p:OnnxBackend=${ONNX_BACKEND}", text);
        Assert.Matches(@"ARG CUDA_IMAGE=nvidia/cuda:\S+", text);
    }
}
