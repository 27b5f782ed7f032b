using System.Text.RegularExpressions;
using Akka.Configuration;
using Pipeline.Cluster.Bootstrap;
using Pipeline.Core.Configuration;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Cluster.Tests;

/// <summary>
/// deploy/ cannot be run here (no Docker engine, no Kubernetes): these checks parse every manifest and hold the files to
/// what the cluster design needs, so a broken edit fails here instead of on someone's cluster.
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
        Assert.True(documents.Count >= 12, $"{documents.Count} documents");
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

    [Theory]
    [InlineData("learner", 1)]
    [InlineData("buffer", 1)]
    [InlineData("generator", 2)]
    [InlineData("annotator", 1)]
    public void Each_role_has_a_Deployment_with_cluster_membership_probes_pod_ip_and_role(string role, int replicas)
    {
        var deployment = Assert.Single(K8sDocuments(), d =>
            Yaml.Scalar(d.Root, "kind") == "Deployment" && Yaml.Scalar(d.Root, "metadata.name") == $"pipeline-{role}").Root;
        Assert.Equal(replicas.ToString(), Yaml.Scalar(deployment, "spec.replicas"));
        var selector = Labels(Yaml.At(deployment, "spec.selector.matchLabels"));
        var podLabels = Labels(Yaml.At(deployment, "spec.template.metadata.labels"));
        Assert.All(selector, kv => Assert.Equal(kv.Value, podLabels.GetValueOrDefault(kv.Key)));
        // Cluster Bootstrap discovers Akka nodes by this label; critic-sim must not carry it.
        Assert.Equal("pipeline", podLabels["app.kubernetes.io/name"]);
        Assert.Equal(role, podLabels["app.kubernetes.io/component"]);
        Assert.Equal("pipeline", Yaml.Scalar(deployment, "spec.template.spec.serviceAccountName"));

        var container = Assert.Single(Yaml.Items(Yaml.At(deployment, "spec.template.spec.containers")));
        var env = Yaml.Items(Yaml.At(container, "env")).ToDictionary(e => Yaml.Scalar(e, "name")!, e => e);
        Assert.Equal(role, Yaml.Scalar(env["PIPELINE_ROLE"], "value"));
        Assert.Equal("status.podIP", Yaml.Scalar(env["POD_IP"], "valueFrom.fieldRef.fieldPath"));
        Assert.Equal("$(POD_IP)", Yaml.Scalar(env["PIPELINE_PUBLIC_HOSTNAME"], "value"));

        var args = Yaml.Words(Yaml.At(container, "args"));
        Assert.Equal("node", args[0]);
        Assert.Equal("--role", args[1]);
        Assert.Equal("$(PIPELINE_ROLE)", args[2]);

        Assert.Equal("/ready", Yaml.Scalar(container, "readinessProbe.httpGet.path"));
        Assert.Equal("management", Yaml.Scalar(container, "readinessProbe.httpGet.port"));
        Assert.Equal("/alive", Yaml.Scalar(container, "livenessProbe.httpGet.path"));
        Assert.Equal("management", Yaml.Scalar(container, "livenessProbe.httpGet.port"));
        var ports = Yaml.Items(Yaml.At(container, "ports")).ToDictionary(p => Yaml.Scalar(p, "name")!, p => Yaml.Scalar(p, "containerPort"));
        Assert.Equal("4053", ports["remoting"]);
        Assert.Equal("8558", ports["management"]);
    }

    /// <summary>
    /// The args as the container runs them ($(VAR) expanded from the container's env; fieldRef values stand in as a pod
    /// IP and the namespace), loaded the way <c>pipeline node</c> loads them: the layered HOCON with the args' --set
    /// overrides, then the bootstrap block turned into Akka configuration.
    /// </summary>
    [Theory]
    [InlineData("learner")]
    [InlineData("buffer")]
    [InlineData("generator")]
    [InlineData("annotator")]
    public void Each_role_joins_by_Cluster_Bootstrap_discovering_its_own_pod_labels_through_the_Kubernetes_API(string role)
    {
        var documents = K8sDocuments().Select(d => d.Root).ToList();
        var deployment = Assert.Single(documents, d =>
            Yaml.Scalar(d, "kind") == "Deployment" && Yaml.Scalar(d, "metadata.name") == $"pipeline-{role}");
        var podLabels = Labels(Yaml.At(deployment, "spec.template.metadata.labels"));
        var container = Assert.Single(Yaml.Items(Yaml.At(deployment, "spec.template.spec.containers")));
        var env = Yaml.Items(Yaml.At(container, "env")).ToDictionary(e => Yaml.Scalar(e, "name")!, e => Yaml.Scalar(e, "value")
            ?? Yaml.Scalar(e, "valueFrom.fieldRef.fieldPath") switch { "status.podIP" => "10.0.0.5", "metadata.namespace" => "pipeline", _ => null });
        var args = Yaml.Words(Yaml.At(container, "args")).Select(a => ExpandEnv(a, env)).ToList();

        Assert.Contains("--bootstrap", args);
        Assert.DoesNotContain("--seed", args);
        Assert.Equal("10.0.0.5", After(args, "--host"));   // remoting and management bind and advertise the pod IP
        Assert.NotNull(After(args, "--run"));
        var sets = args.Select((a, i) => (a, i)).Where(x => x.a == "--set").Select(x => args[x.i + 1]).ToList();
        var settings = PipelineSettings.Load(RepoRoot.Combine("hocon"), "cluster", null, sets);
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
        Assert.Equal(ports["remoting"], After(args, "--port"));
        var akka = ClusterBootstrapSetup.Apply(ConfigurationFactory.ParseString($"akka.remote.dot-netty.tcp.hostname = \"{After(args, "--host")}\"")
            .WithFallback(settings.Hocon), bootstrap);
        Assert.Equal("kubernetes-api", akka.GetString("akka.discovery.method"));
        var portName = akka.GetString("akka.management.cluster.bootstrap.contact-point-discovery.port-name");
        Assert.Equal(ports[portName], akka.GetInt("akka.management.http.port").ToString());
        Assert.Equal("10.0.0.5", akka.GetString("akka.management.http.hostname"));
        Assert.Equal(portName, Yaml.Scalar(container, "readinessProbe.httpGet.port"));
        Assert.Equal(portName, Yaml.Scalar(container, "livenessProbe.httpGet.port"));
        Assert.Equal(ManagementEndpoint.ReadyPath, Yaml.Scalar(container, "readinessProbe.httpGet.path"));
        Assert.Equal(ManagementEndpoint.AlivePath, Yaml.Scalar(container, "livenessProbe.httpGet.path"));

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
    }

    private static Dictionary<string, string?> Labels(YamlNode? node) =>
        Yaml.Entries(node ?? new YamlMappingNode()).ToDictionary(kv => kv.Key, kv => (kv.Value as YamlScalarNode)?.Value);

    // Keys with dots ("nvidia.com/gpu") cannot go through the dotted path helper.
    private static string? GpuLimit(YamlNode container) =>
        Yaml.At(container, "resources.limits") is { } limits && Yaml.Entries(limits).TryGetValue("nvidia.com/gpu", out var v) ? ((YamlScalarNode)v).Value : null;

    [Fact]
    public void The_critic_key_comes_from_a_Secret_on_Kubernetes_and_from_the_host_environment_in_compose()
    {
        var annotator = K8sDocuments().Single(d => Yaml.Scalar(d.Root, "metadata.name") == "pipeline-annotator").Root;
        var container = Yaml.Items(Yaml.At(annotator, "spec.template.spec.containers"))[0];
        var key = Assert.Single(Yaml.Items(Yaml.At(container, "env")), e => Yaml.Scalar(e, "name") == "PIPELINE_CRITIC_API_KEY");
        Assert.Null(Yaml.At(key, "value"));
        Assert.False(string.IsNullOrEmpty(Yaml.Scalar(key, "valueFrom.secretKeyRef.name")));
        Assert.DoesNotContain(K8sDocuments(), d => Yaml.Scalar(d.Root, "kind") == "Secret");

        var seed = Yaml.At(ComposeRoot(), "services.seed")!;
        Assert.Equal("${PIPELINE_CRITIC_API_KEY:-}", Yaml.Scalar(seed, "environment.PIPELINE_CRITIC_API_KEY"));
    }

    [Fact]
    public void Compose_runs_seed_learner_buffer_two_generators_annotator_and_critic_sim_with_healthchecks()
    {
        var services = Yaml.Entries(Yaml.At(ComposeRoot(), "services")!);
        foreach (var name in new[] { "seed", "learner", "generator-1", "generator-2", "annotator", "critic-sim" })
            Assert.True(services.ContainsKey(name), $"service {name} missing");

        var nodes = services.Where(s => Yaml.Words(Yaml.At(s.Value, "command")) is [ "node", .. ]).ToList();
        Assert.Equal(5, nodes.Count);
        foreach (var (name, service) in nodes)
        {
            var command = Yaml.Words(Yaml.At(service, "command"));
            var seedAt = command.ToList().IndexOf("--seed");
            Assert.True(seedAt > 0 && command[seedAt + 1] == "seed:4053", $"{name}: {string.Join(' ', command)}");
            Assert.Contains("--role", command);
            Assert.Equal(name, Yaml.Scalar(service, "environment.PIPELINE_PUBLIC_HOSTNAME"));
        }

        string[] Roles(IReadOnlyList<string> command) =>
            command.Select((w, i) => (w, i)).Where(x => x.w == "--role" && x.i + 1 < command.Count).Select(x => command[x.i + 1]).ToArray();
        var roles = nodes.ToDictionary(n => n.Key, n => Roles(Yaml.Words(Yaml.At(n.Value, "command"))));
        Assert.Contains("learner", roles["learner"]);
        Assert.Contains("buffer", roles["learner"]);
        Assert.Equal(["generator"], roles["generator-1"]);
        Assert.Equal(["generator"], roles["generator-2"]);
        Assert.Equal(["annotator"], roles["annotator"]);
        Assert.NotEmpty(roles["seed"]);

        var critic = Yaml.Words(Yaml.At(services["critic-sim"], "command"));
        Assert.Equal(["critic-sim", "--port", "8089", "--task", "sql"], critic.Take(5));

        foreach (var (name, service) in services)
        {
            var test = Yaml.Words(Yaml.At(service, "healthcheck.test"));
            Assert.True(test.Count > 1, $"{name}: no healthcheck");
        }
        Assert.Contains("http://127.0.0.1:8558/ready", Yaml.Words(Yaml.At(services["learner"], "healthcheck.test")));
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
