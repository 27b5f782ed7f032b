using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Simulation;

/// <summary>A queue's depth over the run: its median and 99th percentile (nearest rank) of the samples taken.</summary>
public sealed record Depth(double P50, double P99, int Samples);

/// <summary>
/// What a simulation measured (summary.json). Everything here comes from virtual time and seeded draws, so two simulations
/// with the same seed, settings and costs give the same summary bit for bit; wall-clock figures are printed, never stored here.
/// </summary>
public sealed record SimulationSummary
{
    public bool Simulated { get; init; } = true;
    public long Seed { get; init; }
    public double DurationS { get; init; }
    public int Generators { get; init; }
    public int Annotators { get; init; }
    public long Steps { get; init; }
    public long PolicyVersion { get; init; }
    public long GroupsGenerated { get; init; }
    public long GroupsTrained { get; init; }
    public long RolloutsTrained { get; init; }
    public double RolloutsPerS { get; init; }
    public double TokensPerS { get; init; }
    public double LearnerUtilisation { get; init; }
    public double GeneratorUtilisation { get; init; }
    /// <summary>Trained groups by staleness (learner version minus the group's policy version).</summary>
    public SortedDictionary<long, long> Staleness { get; init; } = [];
    public double StalenessMean { get; init; }
    public SortedDictionary<string, Depth> QueueDepths { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Per source: the share of trained rollouts with a valid signal from it (for the critic: its coverage).</summary>
    public SortedDictionary<string, double> Coverage { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Per source: invalid (masked) signals in trained rollouts.</summary>
    public SortedDictionary<string, long> InvalidSignals { get; init; } = new(StringComparer.Ordinal);
    public long MaskedRollouts { get; init; }
    /// <summary>Counted drops: the buffer's (stale, late, uninformative), credits expired or released, and each source's errors, 429s and timeouts.</summary>
    public SortedDictionary<string, long> Drops { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Why a real run would have stopped here (the simulation stopped too); null: it would not.</summary>
    public string? Failure { get; init; }
    /// <summary>Work posted to the loop from another thread; 0 means nothing escaped the one deterministic thread.</summary>
    public long ForeignPosts { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SimulationSummary? Read(string path) => JsonSerializer.Deserialize<SimulationSummary>(File.ReadAllText(path), Json);

    /// <summary>Nearest-rank percentiles of <paramref name="samples"/> (0 samples: zeros).</summary>
    public static Depth DepthOf(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) return new Depth(0, 0, 0);
        var sorted = samples.Order().ToArray();
        double P(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Depth(P(0.5), P(0.99), sorted.Length);
    }
}
