namespace Pipeline.Rewards.Critic.Simulated;

/// <summary>How the simulated judge's response time is drawn.</summary>
public enum LatencyDistribution
{
    /// <summary>Always <see cref="SimulatedCriticOptions.Latency"/>.</summary>
    Fixed,
    /// <summary>Uniform on [latency - spread, latency + spread], floored at 0.</summary>
    Uniform,
    /// <summary>Log-normal with mean <c>latency</c> and standard deviation <c>spread</c> (a long right tail, like real LLM servers).</summary>
    LogNormal,
}

/// <summary>A deliberately broken simulated judge, for seeing the critic's canary probes catch one.</summary>
public enum SimulatedHostility
{
    /// <summary>Honest: scores from the oracle's ground truth.</summary>
    None,
    /// <summary>Gives every candidate the top of the scale (all criteria met, pairwise a tie), whatever it is.</summary>
    AlwaysMax,
    /// <summary>Honest, except that a candidate saying "ignore previous instructions" gets the top score it asks for.</summary>
    ObeyInjection,
}

/// <summary>Settings of <see cref="SimulatedCriticServer"/>.</summary>
public sealed record SimulatedCriticOptions
{
    /// <summary>Where to listen, Kestrel style (<c>http://127.0.0.1:8089</c>; port 0 picks a free one). Several separated by ';'.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8089";

    public LatencyDistribution LatencyDistribution { get; init; } = LatencyDistribution.Fixed;

    /// <summary>Mean response time (before the answer or the injected error).</summary>
    public TimeSpan Latency { get; init; } = TimeSpan.Zero;

    /// <summary>Uniform: half-width; log-normal: standard deviation. Ignored for fixed.</summary>
    public TimeSpan LatencySpread { get; init; } = TimeSpan.Zero;

    /// <summary>Standard deviation of the Gaussian noise added to the oracle's [0, 1] score (then clamped to [0, 1]).</summary>
    public double Noise { get; init; }

    /// <summary>Probability that a chat request is answered with an error instead (500 or 429, see <see cref="TooManyRequestsShare"/>).</summary>
    public double ErrorRate { get; init; }

    /// <summary>Share of the injected errors that are 429 (with <see cref="RetryAfter"/>); the rest are 500.</summary>
    public double TooManyRequestsShare { get; init; } = 0.5;

    /// <summary>The Retry-After header sent with an injected 429 (whole seconds).</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Seed of the latency, noise and error draws (concurrent requests interleave, so only the distribution is reproducible).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>A SIMULATED hostile judge (<c>--hostile always-max | obey-injection</c>); <see cref="SimulatedHostility.None"/> is honest.</summary>
    public SimulatedHostility Hostile { get; init; } = SimulatedHostility.None;

    public SimulatedCriticOptions Validate()
    {
        if (Latency < TimeSpan.Zero || LatencySpread < TimeSpan.Zero) throw new ArgumentException("simulated critic: latency and spread must be >= 0");
        if (!double.IsFinite(Noise) || Noise < 0) throw new ArgumentException("simulated critic: noise must be >= 0");
        if (ErrorRate is < 0 or > 1 || double.IsNaN(ErrorRate)) throw new ArgumentException("simulated critic: error-rate must be within [0, 1]");
        if (TooManyRequestsShare is < 0 or > 1 || double.IsNaN(TooManyRequestsShare)) throw new ArgumentException("simulated critic: 429 share must be within [0, 1]");
        if (RetryAfter < TimeSpan.Zero) throw new ArgumentException("simulated critic: retry-after must be >= 0");
        if (string.IsNullOrWhiteSpace(Urls)) throw new ArgumentException("simulated critic: urls must not be empty");
        return this;
    }
}
