using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;

namespace Pipeline.Simulation.Costs;

/// <summary>How long one generator takes for a group: <c>GroupOverhead + PerToken * (completion tokens of the group)</c>.</summary>
/// <param name="CompletionTokens">Tokens per completion (rounded, kept in [1, generation.max-tokens]).</param>
/// <param name="PromptTokens">Tokens of every prompt.</param>
public sealed record GeneratorCost(double GroupOverhead, double PerToken, Distribution CompletionTokens, int PromptTokens);

/// <summary>
/// One reward source as a service: each call (one per group) waits for a free worker (<c>Workers</c>, 0 = unlimited) in a
/// queue of at most <c>Queue</c> calls (beyond it: answered at once as 429), takes a latency drawn from <c>Latency</c>, then
/// ends as an error, a 429 or a timeout (after <c>Timeout</c> instead of the latency) with the declared rates, else with one
/// value per rollout: 1 with probability <c>PCorrect</c>, else 0. Fast sources get one instance per annotation stage, slow
/// ones (remote judges) one shared by all stages.
/// </summary>
public sealed record SourceCost(RewardSourceKind Kind, int Workers, int Queue, Distribution Latency, double ErrorRate, double RateLimitRate,
    double TimeoutRate, double Timeout, double PCorrect);

/// <summary>A learner step takes <c>StepOverhead + PerToken * (prompt + completion tokens of the trained rollouts)</c>; each version is <c>WeightBytes</c> large.</summary>
public sealed record LearnerCost(double StepOverhead, double PerToken, long WeightBytes);

/// <summary>A version reaches the generators <c>Overhead + bytes / BytesPerSecond</c> after the learner publishes it.</summary>
public sealed record WeightSyncCost(double Overhead, double BytesPerSecond)
{
    public double Seconds(long bytes) => Overhead + bytes / BytesPerSecond;
}

/// <summary>At <c>At</c> (virtual time), generator <c>Generator</c> is stopped (its credits released as on a real stop); it restarts after <c>RestartAfter</c> (never when null).</summary>
public sealed record NodeLoss(double At, int Generator, double? RestartAfter);

/// <summary>
/// The declared costs of a simulation (the embedded costs.conf documents every key). Everything the real pipeline computes
/// (sampling, scoring, training, weight transfer) takes the virtual time these say; the actors and their wiring are real.
/// </summary>
public sealed record CostModel(int Annotators, GeneratorCost Generator, IReadOnlyDictionary<int, GeneratorCost> GeneratorOverrides,
    IReadOnlyDictionary<string, SourceCost> Sources, SourceCost DefaultSource, LearnerCost Learner, WeightSyncCost WeightSync,
    IReadOnlyList<NodeLoss> NodeLosses)
{
    /// <summary>The embedded default cost file (costs.conf), every key documented.</summary>
    public static string DefaultText()
    {
        using var stream = typeof(CostModel).Assembly.GetManifestResourceStream("Pipeline.Simulation.costs.conf")
            ?? throw new InvalidOperationException("embedded costs.conf is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Generator <paramref name="index"/>'s cost (its override, else the shared one).</summary>
    public GeneratorCost GeneratorAt(int index) => GeneratorOverrides.TryGetValue(index, out var g) ? g : Generator;

    /// <summary>Source <paramref name="name"/>'s cost (its entry, else <c>sources.default</c>).</summary>
    public SourceCost SourceFor(string name) => Sources.TryGetValue(name, out var s) ? s : DefaultSource;

    /// <summary>The default costs with <paramref name="userFile"/> (null: none) layered over them.</summary>
    public static CostModel Load(string? userFile)
    {
        var defaults = ConfigurationFactory.ParseString(DefaultText());
        if (userFile is null) return From(defaults, Environment.CurrentDirectory, known: null);
        if (!File.Exists(userFile)) throw new ConfigException($"--costs {userFile}: no such file");
        Config user;
        try { user = ConfigurationFactory.ParseString(File.ReadAllText(userFile)); }
        catch (Exception e) when (e is ConfigurationException or FormatException)
        {
            throw new ConfigException($"--costs {userFile}: not valid HOCON: {e.Message}");
        }
        return From(user.WithFallback(defaults), Path.GetDirectoryName(Path.GetFullPath(userFile))!, Leaves(user));
    }

    /// <summary>Reads a cost model from <paramref name="config"/> (defaults included); <paramref name="known"/>: the user's keys to check against the defaults.</summary>
    public static CostModel From(Config config, string baseDir, IEnumerable<string>? known = null)
    {
        var root = config.GetConfig("costs") ?? throw new ConfigException("the cost file has no 'costs' block");
        if (known is not null) CheckKnown(known, config);
        var annotators = Int(root, "placement.annotators", 1);
        var generator = ReadGenerator(root.GetConfig("generator"), "costs.generator", baseDir, null);
        var overrides = new Dictionary<int, GeneratorCost>();
        if (root.HasPath("generator.per-generator"))
        {
            var per = root.GetConfig("generator.per-generator");
            foreach (var name in per.Root.GetObject().Items.Keys)
            {
                if (!int.TryParse(name, out var index) || index < 0)
                    throw new ConfigException($"costs.generator.per-generator.{name}: expected a generator index (0, 1, ...)");
                overrides[index] = ReadGenerator(per.GetConfig(name), $"costs.generator.per-generator.{name}", baseDir, generator);
            }
        }
        var sourcesBlock = root.GetConfig("sources");
        var defaultSource = ReadSource(sourcesBlock.GetConfig("default"), "costs.sources.default", baseDir, null);
        var sources = new Dictionary<string, SourceCost>(StringComparer.Ordinal);
        foreach (var name in sourcesBlock.Root.GetObject().Items.Keys.Where(n => n != "default"))
            sources[name] = ReadSource(sourcesBlock.GetConfig(name), $"costs.sources.{name}", baseDir, defaultSource);
        var learner = new LearnerCost(Seconds(root, "learner.step-overhead"), Seconds(root, "learner.per-token"),
            (long)Number(root, "learner.weight-bytes"));
        var bandwidth = Number(root, "weight-sync.bytes-per-second");
        if (bandwidth <= 0) throw new ConfigException("costs.weight-sync.bytes-per-second must be positive");
        var sync = new WeightSyncCost(Seconds(root, "weight-sync.overhead"), bandwidth);
        var losses = new List<NodeLoss>();
        if (root.HasPath("node-loss"))
        {
            var i = 0;
            foreach (var item in root.GetValue("node-loss").GetArray())
            {
                var path = $"costs.node-loss[{i++}]";
                if (!item.IsObject()) throw new ConfigException($"{path}: expected {{ at = 10m, generator = 0, restart-after = 1m }}");
                var c = new Config(new Akka.Configuration.Hocon.HoconRoot(item));
                var at = Distribution.Number(c, "at", path + ".at", durations: true);
                var g = Distribution.Number(c, "generator", path + ".generator", durations: false);
                if (g != Math.Floor(g)) throw new ConfigException($"{path}.generator = {g}: expected a generator index");
                double? restart = c.HasPath("restart-after") ? Distribution.Number(c, "restart-after", path + ".restart-after", durations: true) : null;
                losses.Add(new NodeLoss(at, (int)g, restart));
            }
        }
        return new CostModel(annotators, generator, overrides, sources, defaultSource, learner, sync, losses);
    }

    private static GeneratorCost ReadGenerator(Config c, string path, string baseDir, GeneratorCost? fallback)
    {
        double Sec(string key, double? fb) => !c.HasPath(key) && fb is { } f ? f : Distribution.Number(c, key, $"{path}.{key}", durations: true);
        var tokens = !c.HasPath("completion-tokens") && fallback is not null ? fallback.CompletionTokens
            : Distribution.Read(c, "completion-tokens", $"{path}.completion-tokens", durations: false, baseDir);
        var prompt = !c.HasPath("prompt-tokens") && fallback is not null ? fallback.PromptTokens
            : (int)Distribution.Number(c, "prompt-tokens", $"{path}.prompt-tokens", durations: false);
        if (prompt < 1) throw new ConfigException($"{path}.prompt-tokens must be at least 1");
        return new GeneratorCost(Sec("group-overhead", fallback?.GroupOverhead), Sec("per-token", fallback?.PerToken), tokens, prompt);
    }

    private static SourceCost ReadSource(Config c, string path, string baseDir, SourceCost? fb)
    {
        bool Has(string key) => c.HasPath(key);
        double Rate(string key, double? f)
        {
            if (!Has(key) && f is { } v) return v;
            var r = Distribution.Number(c, key, $"{path}.{key}", durations: false);
            return r <= 1 ? r : throw new ConfigException($"{path}.{key} = {r}: a rate is in [0, 1]");
        }
        var kind = !Has("kind") && fb is not null ? fb.Kind : c.GetString("kind") switch
        {
            "fast" => RewardSourceKind.Fast,
            "slow" => RewardSourceKind.Slow,
            var k => throw new ConfigException($"{path}.kind = '{k}': expected fast | slow"),
        };
        var workers = !Has("workers") && fb is not null ? fb.Workers : (int)Distribution.Number(c, "workers", $"{path}.workers", durations: false);
        var queue = !Has("queue") && fb is not null ? fb.Queue : (int)Distribution.Number(c, "queue", $"{path}.queue", durations: false);
        var latency = !Has("latency") && fb is not null ? fb.Latency : Distribution.Read(c, "latency", $"{path}.latency", durations: true, baseDir);
        var error = Rate("error-rate", fb?.ErrorRate);
        var limited = Rate("rate-limit-rate", fb?.RateLimitRate);
        var timeouts = Rate("timeout-rate", fb?.TimeoutRate);
        if (error + limited + timeouts > 1) throw new ConfigException($"{path}: error-rate + rate-limit-rate + timeout-rate exceed 1");
        var timeout = !Has("timeout") && fb is not null ? fb.Timeout : Distribution.Number(c, "timeout", $"{path}.timeout", durations: true);
        return new SourceCost(kind, workers, queue, latency, error, limited, timeouts, timeout, Rate("p-correct", fb?.PCorrect));
    }

    private static double Seconds(Config root, string key) => Distribution.Number(root, key, "costs." + key, durations: true);
    private static double Number(Config root, string key) => Distribution.Number(root, key, "costs." + key, durations: false);

    private static int Int(Config root, string key, int min)
    {
        var v = Number(root, key);
        if (v != Math.Floor(v) || v < min) throw new ConfigException($"costs.{key} = {v}: expected a whole number of at least {min}");
        return (int)v;
    }

    /// <summary>Every leaf key of <paramref name="config"/>, dotted (the keys a cost file sets).</summary>
    internal static HashSet<string> Leaves(Config config)
    {
        var leaves = new HashSet<string>(StringComparer.Ordinal);
        void Walk(Akka.Configuration.Hocon.HoconObject obj, string prefix)
        {
            foreach (var (name, value) in obj.Items)
            {
                var path = prefix.Length == 0 ? name : prefix + "." + name;
                if (value.IsObject()) Walk(value.GetObject(), path);
                else leaves.Add(path);
            }
        }
        Walk(config.Root.GetObject(), "");
        return leaves;
    }

    // Open maps: source names, per-generator indexes, and a distribution's own fields differ by kind.
    private static readonly string[] OpenPrefixes = ["costs.sources.", "costs.generator.per-generator."];
    private static readonly HashSet<string> DistributionFields = ["distribution", "value", "mean", "stddev", "median", "sigma", "file"];

    private static void CheckKnown(IEnumerable<string> userLeaves, Config merged)
    {
        var defaults = Leaves(ConfigurationFactory.ParseString(DefaultText()));
        foreach (var key in userLeaves)
        {
            if (defaults.Contains(key)) continue;
            var last = key[(key.LastIndexOf('.') + 1)..];
            if (DistributionFields.Contains(last)) continue;
            if (OpenPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
            {
                var field = key.StartsWith("costs.sources.", StringComparison.Ordinal)
                    ? "costs.sources.default." + string.Join('.', key.Split('.').Skip(3))
                    : "costs.generator." + string.Join('.', key.Split('.').Skip(3));
                if (defaults.Contains(field) || DistributionFields.Contains(last)) continue;
            }
            throw new ConfigException($"unknown cost key '{key}' (the embedded costs.conf lists every key)");
        }
    }
}
