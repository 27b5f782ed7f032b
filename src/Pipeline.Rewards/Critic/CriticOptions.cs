using System.Globalization;
using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Rewards.Critic;

/// <summary>How <see cref="LlmCriticReward"/> turns judge verdicts into one value per rollout.</summary>
public enum CriticMode
{
    /// <summary>Each completion scored alone on the declared scale, normalised to [0, 1].</summary>
    Pointwise,
    /// <summary>Each completion's win rate against the group's other completions (win 1, tie 0.5, loss 0).</summary>
    Pairwise,
}

/// <summary>
/// Settings of the LLM critic: the OpenAI-compatible endpoint, resilience (timeout, retries, breaker), throughput limits,
/// the response cache and the judging templates. The HOCON names (kebab-case) are given on each field; they live in the
/// critic's settings block (<c>pipeline.rewards.critic</c>), read by <see cref="FromConfig"/>.
/// The API key itself is never part of the options: only the NAME of the environment variable holding it.
/// </summary>
public sealed record CriticOptions
{
    /// <summary><c>base-url</c>: endpoint root up to and including the version segment; requests go to <c>{base-url}/chat/completions</c>
    /// (vLLM / llama.cpp / OpenAI: <c>http://host:8000/v1</c>, Ollama: <c>http://host:11434/v1</c>). Default <c>http://127.0.0.1:8089/v1</c>,
    /// where <c>pipeline critic-sim</c> listens by default.</summary>
    public string BaseUrl { get; init; } = "http://127.0.0.1:8089/v1";

    /// <summary><c>model</c>: the model name sent in every request. Default <c>judge</c>.</summary>
    public string Model { get; init; } = "judge";

    /// <summary><c>api-key-env</c>: name of the environment variable holding the API key (sent as <c>Authorization: Bearer</c>);
    /// empty or unset variable: no Authorization header. The key is read from the environment only. Default empty.</summary>
    public string ApiKeyEnv { get; init; } = "";

    /// <summary><c>timeout</c>: limit for one HTTP attempt (send + read the body). Default 30 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>max-retries</c>: retries after the first attempt, 0..3, on 429, 5xx, transport errors and timeouts. Default 3.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary><c>retry-base-delay</c>: first backoff delay; later ones grow exponentially with jitter. Default 250 ms.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary><c>retry-max-delay</c>: cap on one backoff delay, and on a server's <c>Retry-After</c>. Default 10 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary><c>concurrency</c>: HTTP requests in flight at once (more wait in a queue). Default 16.</summary>
    public int Concurrency { get; init; } = 16;

    /// <summary><c>requests-per-minute</c>: token bucket on requests (every attempt takes one); 0 = unlimited. Default 0.
    /// The bucket holds one second's worth (at least 1), refilled about ten times a second.</summary>
    public int RequestsPerMinute { get; init; }

    /// <summary><c>tokens-per-minute</c>: token bucket on estimated tokens (prompt chars / 4 + max-tokens per attempt);
    /// 0 = unlimited. Default 0. The bucket holds one second's worth; a request larger than that takes the whole bucket.</summary>
    public int TokensPerMinute { get; init; }

    /// <summary><c>breaker-failure-ratio</c>: share of failed attempts (429, 5xx, transport, timeout) in the sampling window
    /// that opens the circuit breaker. Default 0.5.</summary>
    public double BreakerFailureRatio { get; init; } = 0.5;

    /// <summary><c>breaker-sampling-window</c>: window over which the failure ratio is measured (at least 500 ms). Default 30 s.</summary>
    public TimeSpan BreakerSamplingWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>breaker-minimum-throughput</c>: attempts needed in the window before the breaker may open (at least 2). Default 10.</summary>
    public int BreakerMinimumThroughput { get; init; } = 10;

    /// <summary><c>breaker-break-duration</c>: how long the breaker stays open (calls fail fast) before one half-open probe (at least 500 ms). Default 15 s.</summary>
    public TimeSpan BreakerBreakDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary><c>cache-entries</c>: bound of the response cache keyed by (template, prompt, completion); 0 turns it off. Default 10000.</summary>
    public int CacheEntries { get; init; } = 10_000;

    /// <summary><c>temperature</c>: sampling temperature sent to the judge. Default 0.</summary>
    public double Temperature { get; init; }

    /// <summary><c>max-tokens</c>: <c>max_tokens</c> sent to the judge (room for brief reasoning plus the JSON answer). Default 512.</summary>
    public int MaxTokens { get; init; } = 512;

    /// <summary><c>response-format</c>: <c>off</c> (default) or <c>json-object</c>, which sends <c>response_format: {"type": "json_object"}</c>
    /// (only for servers that support it).</summary>
    public bool JsonResponseFormat { get; init; }

    /// <summary><c>mode</c>: <c>pointwise</c> (default) or <c>pairwise</c> (win rate against the group's other completions).</summary>
    public CriticMode Mode { get; init; } = CriticMode.Pointwise;

    /// <summary><c>scale-min</c>: lowest score of the pointwise scale. Default 0.</summary>
    public double ScaleMin { get; init; }

    /// <summary><c>scale-max</c>: highest score of the pointwise scale; scores are normalised to [0, 1] over [scale-min, scale-max]. Default 10.</summary>
    public double ScaleMax { get; init; } = 10;

    /// <summary><c>include-reference</c>: put the prompt's reference (gold) answer in the judge prompt when it has one. Default on.</summary>
    public bool IncludeReference { get; init; } = true;

    /// <summary><c>dense</c>: also ask the pointwise judge for marked spans (DRLC dense feedback), attached as <c>RewardSignal.Spans</c>. Default off.</summary>
    public bool Dense { get; init; }

    /// <summary><c>max-response-bytes</c>: the most bytes read from one judge response; a longer body (or a larger Content-Length)
    /// is abandoned unread and the call fails as <c>too-large</c>, so a broken or hostile judge cannot balloon memory. Default 1 MiB.</summary>
    public long MaxResponseBytes { get; init; } = 1024 * 1024;

    /// <summary><c>canary { ... }</c>: known-bad and known-good probes that check the judge can still tell them apart.</summary>
    public CriticCanaryOptions Canary { get; init; } = new();

    public ScoreScale Scale => new(ScaleMin, ScaleMax);

    /// <summary>The settings block the critic reads.</summary>
    public const string Block = "pipeline.rewards.critic";

    /// <summary>Throws <see cref="ConfigException"/> naming the full HOCON key (pipeline.rewards.critic.&lt;key&gt;) of the first bad value.</summary>
    public CriticOptions Validate() => Validate(new ConfigBlock(null, Block));

    private CriticOptions Validate(ConfigBlock block)
    {
        void Check(bool ok, string key, object value, string rule)
        {
            if (!ok) throw block.Error(key, value, rule);
        }
        Check(Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps),
            "base-url", BaseUrl, "must be an absolute http(s) URL");
        Check(!string.IsNullOrWhiteSpace(Model), "model", Model, "must not be empty");
        Check(Timeout > TimeSpan.Zero, "timeout", Timeout, "must be positive");
        Check(MaxRetries is >= 0 and <= 3, "max-retries", MaxRetries, "must be within [0, 3]");
        Check(RetryBaseDelay >= TimeSpan.Zero, "retry-base-delay", RetryBaseDelay, "must be >= 0");
        Check(RetryMaxDelay >= RetryBaseDelay, "retry-max-delay", RetryMaxDelay, "must be >= retry-base-delay");
        Check(Concurrency >= 1, "concurrency", Concurrency, "must be >= 1");
        Check(RequestsPerMinute >= 0, "requests-per-minute", RequestsPerMinute, "must be >= 0");
        Check(TokensPerMinute >= 0, "tokens-per-minute", TokensPerMinute, "must be >= 0");
        Check(BreakerFailureRatio is > 0 and <= 1, "breaker-failure-ratio", BreakerFailureRatio, "must be within (0, 1]");
        Check(BreakerSamplingWindow >= TimeSpan.FromMilliseconds(500), "breaker-sampling-window", BreakerSamplingWindow, "must be >= 500ms");
        Check(BreakerMinimumThroughput >= 2, "breaker-minimum-throughput", BreakerMinimumThroughput, "must be >= 2");
        Check(BreakerBreakDuration >= TimeSpan.FromMilliseconds(500), "breaker-break-duration", BreakerBreakDuration, "must be >= 500ms");
        Check(CacheEntries >= 0, "cache-entries", CacheEntries, "must be >= 0");
        Check(double.IsFinite(Temperature) && Temperature >= 0, "temperature", Temperature, "must be >= 0");
        Check(MaxTokens >= 1, "max-tokens", MaxTokens, "must be >= 1");
        Check(double.IsFinite(ScaleMin), "scale-min", ScaleMin, "must be a finite number");
        Check(double.IsFinite(ScaleMax) && ScaleMax > ScaleMin, "scale-max", ScaleMax, "must be greater than scale-min");
        Check(MaxResponseBytes is >= 1024 and <= int.MaxValue, "max-response-bytes", MaxResponseBytes, $"must be within [1024, {int.MaxValue}]");
        Check(double.IsFinite(Canary.Rate) && Canary.Rate is >= 0 and <= 1, "canary.rate", Canary.Rate, "must be within [0, 1]");
        Check(double.IsFinite(Canary.MinAccuracy) && Canary.MinAccuracy is >= 0 and <= 1, "canary.min-accuracy", Canary.MinAccuracy, "must be within [0, 1]");
        Check(Canary.MinProbes >= 1, "canary.min-probes", Canary.MinProbes, "must be >= 1");
        return this;
    }

    /// <summary>
    /// Reads the critic block (e.g. <c>pipeline.rewards.critic</c>); absent keys keep their defaults. Durations are HOCON durations
    /// (<c>500ms</c>, <c>30s</c>), switches on/off.
    /// </summary>
    /// <param name="originOf">The settings loader's origin of a full key (file or --set), for the error message; null: not named.</param>
    public static CriticOptions FromConfig(Config? config, Func<string, string>? originOf = null) => FromConfig(config, originOf, Block);

    /// <summary>As <see cref="FromConfig(Config?, Func{string, string}?)"/> for a block elsewhere (pipeline.rewards.remote shares the HTTP keys), named in errors.</summary>
    public static CriticOptions FromConfig(Config? config, Func<string, string>? originOf, string blockPath)
    {
        var d = new CriticOptions();
        if (config is null || config.IsEmpty) return d.Validate();

        var block = new ConfigBlock(config, blockPath, originOf);
        string Str(string key, string fallback) => block.Str(key, fallback);
        int Int(string key, int fallback) => block.Int(key, fallback);
        double Dbl(string key, double fallback) => block.Double(key, fallback);
        TimeSpan Dur(string key, TimeSpan fallback) => block.Duration(key, fallback);
        bool Bool(string key, bool fallback) => block.Bool(key, fallback);

        return new CriticOptions
        {
            BaseUrl = Str("base-url", d.BaseUrl),
            Model = Str("model", d.Model),
            ApiKeyEnv = Str("api-key-env", d.ApiKeyEnv),
            Timeout = Dur("timeout", d.Timeout),
            MaxRetries = Int("max-retries", d.MaxRetries),
            RetryBaseDelay = Dur("retry-base-delay", d.RetryBaseDelay),
            RetryMaxDelay = Dur("retry-max-delay", d.RetryMaxDelay),
            Concurrency = Int("concurrency", d.Concurrency),
            RequestsPerMinute = Int("requests-per-minute", d.RequestsPerMinute),
            TokensPerMinute = Int("tokens-per-minute", d.TokensPerMinute),
            BreakerFailureRatio = Dbl("breaker-failure-ratio", d.BreakerFailureRatio),
            BreakerSamplingWindow = Dur("breaker-sampling-window", d.BreakerSamplingWindow),
            BreakerMinimumThroughput = Int("breaker-minimum-throughput", d.BreakerMinimumThroughput),
            BreakerBreakDuration = Dur("breaker-break-duration", d.BreakerBreakDuration),
            CacheEntries = Int("cache-entries", d.CacheEntries),
            Temperature = Dbl("temperature", d.Temperature),
            MaxTokens = Int("max-tokens", d.MaxTokens),
            JsonResponseFormat = block.Parse("response-format", d.JsonResponseFormat, s => s switch
            {
                "off" or "none" or "false" => false,
                "json-object" or "json_object" => true,
                _ => throw new FormatException("expected off | json-object"),
            }),
            Mode = block.Parse("mode", d.Mode, s => s switch
            {
                "pointwise" => CriticMode.Pointwise,
                "pairwise" => CriticMode.Pairwise,
                _ => throw new FormatException("expected pointwise | pairwise"),
            }),
            ScaleMin = Dbl("scale-min", d.ScaleMin),
            ScaleMax = Dbl("scale-max", d.ScaleMax),
            IncludeReference = Bool("include-reference", d.IncludeReference),
            Dense = Bool("dense", d.Dense),
            MaxResponseBytes = block.Long("max-response-bytes", d.MaxResponseBytes),
            Canary = new CriticCanaryOptions
            {
                Rate = Dbl("canary.rate", d.Canary.Rate),
                MinAccuracy = Dbl("canary.min-accuracy", d.Canary.MinAccuracy),
                MinProbes = Int("canary.min-probes", d.Canary.MinProbes),
                Invalidate = Bool("canary.invalidate", d.Canary.Invalidate),
            },
        }.Validate(block);
    }
}

/// <summary>
/// Canary probes (the <c>canary</c> block of the critic's settings): besides real requests, the judge is asked about candidates
/// whose verdict is known (empty, off-task, a prompt injection: lower half of the scale; the task's own reference answer: upper
/// half) so a judge that always gives the top score, or obeys instructions planted in a candidate, is noticed and flagged.
/// </summary>
public sealed record CriticCanaryOptions
{
    /// <summary><c>canary.rate</c>: canary probes per real judge request (0.05 = one per 20 requests, spread evenly); 0 turns them off. Default 0.05.</summary>
    public double Rate { get; init; } = 0.05;

    /// <summary><c>canary.min-accuracy</c>: after min-probes answered canaries, a share judged right below this, over all canaries or
    /// over one kind of them, flags the judge untrusted. Default 0.8.</summary>
    public double MinAccuracy { get; init; } = 0.8;

    /// <summary><c>canary.min-probes</c>: answered canaries needed before the judge is judged. Default 20.</summary>
    public int MinProbes { get; init; } = 20;

    /// <summary><c>canary.invalidate</c>: once flagged untrusted, the critic's signals are invalid (masked) for the rest of the run. Default on.</summary>
    public bool Invalidate { get; init; } = true;
}
