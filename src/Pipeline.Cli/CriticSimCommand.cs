using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Pipeline.Core.Configuration;
using Pipeline.Rewards.Critic.Simulated;
using Pipeline.Runtime.Hosting;
using Pipeline.Tasks.Sql;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline critic-sim</c>: a simulated LLM judge (OpenAI chat-completions API) that scores from ground truth, for exercising
/// the critic reward without a model server. Runs until Ctrl-C.
/// </summary>
internal static class CriticSimCommand
{
    private static readonly Option<string?> Urls = new("--urls")
    {
        Description = "Where to listen, e.g. http://0.0.0.0:8089 (several separated by ';'). Overrides --port.",
    };

    private static readonly Option<int> Port = new("--port")
    {
        Description = "Port on 127.0.0.1 when --urls is not given (0: any free port).",
        DefaultValueFactory = _ => 8089,
    };

    private static readonly Option<double> Latency = new("--latency")
    {
        Description = "Mean response time in milliseconds.",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<double> LatencySpread = new("--latency-spread")
    {
        Description = "Spread of the response time in milliseconds: standard deviation (lognormal) or half-width (uniform).",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<string> LatencyDist = new("--latency-dist")
    {
        Description = "Response-time distribution: fixed | uniform | lognormal.",
        DefaultValueFactory = _ => "lognormal",
    };

    private static readonly Option<double> Noise = new("--noise")
    {
        Description = "Standard deviation of the Gaussian noise on the [0, 1] ground-truth score.",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<double> ErrorRate = new("--error-rate")
    {
        Description = "Share of chat requests answered with an injected error instead (half 500, half 429 with Retry-After).",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<double> RetryAfter = new("--retry-after")
    {
        Description = "Retry-After seconds sent with an injected 429.",
        DefaultValueFactory = _ => 1,
    };

    private static readonly Option<int> Seed = new("--seed")
    {
        Description = "Seed of the latency, noise and error draws.",
        DefaultValueFactory = _ => 1,
    };

    private static readonly Option<string> Hostile = new("--hostile")
    {
        Description = "Play a SIMULATED broken judge, to see the critic's canary probes catch it: none (honest) | always-max (every " +
                      "candidate gets the top score) | obey-injection (a candidate saying \"ignore previous instructions\" gets the top score).",
        DefaultValueFactory = _ => "none",
    };

    private static readonly Option<string> TaskOption = new("--task")
    {
        Description = "Ground truth: exact (normalised exact match against the request's reference) or sql (runs candidate and gold " +
                      "on the SQL task's databases, built from the configuration like train does).",
        DefaultValueFactory = _ => "exact",
    };

    public static Command Create()
    {
        var command = new Command("critic-sim", """
            Serve a SIMULATED LLM judge on the OpenAI chat-completions API (POST /v1/chat/completions, GET /v1/models) for the critic
            reward (pipeline.rewards.critic.base-url = http://127.0.0.1:8089/v1). It scores from ground truth, not with a model, and
            says so in every answer, header and log line. Runs until Ctrl-C.
            """)
        {
            Urls, Port, Latency, LatencySpread, LatencyDist, Noise, ErrorRate, RetryAfter, Seed, Hostile, TaskOption,
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir,
        };
        command.SetAction((parse, ct) => RunAsync(parse, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken invocationToken)
    {
        // Ctrl-C (SIGINT) and SIGTERM stop the server cleanly; handled here rather than left to the invocation's token.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            // The runtime calls a signal's handlers one after the other in no fixed order. When System.CommandLine's own
            // termination handler comes first, it cancels the invocation token and blocks until this command has returned
            // and disposed `stop`; this handler then finds nothing left to stop.
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var cancellationToken = stop.Token;

        var distribution = parse.GetValue(LatencyDist) switch
        {
            "fixed" => LatencyDistribution.Fixed,
            "uniform" => LatencyDistribution.Uniform,
            "lognormal" => LatencyDistribution.LogNormal,
            var other => throw new ConfigException($"--latency-dist '{other}': expected fixed | uniform | lognormal"),
        };
        var hostile = parse.GetValue(Hostile) switch
        {
            "none" => SimulatedHostility.None,
            "always-max" => SimulatedHostility.AlwaysMax,
            "obey-injection" => SimulatedHostility.ObeyInjection,
            var other => throw new ConfigException($"--hostile '{other}': expected none | always-max | obey-injection"),
        };
        SimulatedCriticOptions options;
        try
        {
            options = new SimulatedCriticOptions
            {
                Urls = parse.GetValue(Urls) is { Length: > 0 } urls ? urls : $"http://127.0.0.1:{parse.GetValue(Port).ToString(CultureInfo.InvariantCulture)}",
                LatencyDistribution = distribution,
                Latency = TimeSpan.FromMilliseconds(parse.GetValue(Latency)),
                LatencySpread = TimeSpan.FromMilliseconds(parse.GetValue(LatencySpread)),
                Noise = parse.GetValue(Noise),
                ErrorRate = parse.GetValue(ErrorRate),
                RetryAfter = TimeSpan.FromSeconds(parse.GetValue(RetryAfter)),
                Seed = parse.GetValue(Seed),
                Hostile = hostile,
            }.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ConfigException(e.Message);
        }

        static void Log(string line) => Console.WriteLine($"{DateTime.Now:HH:mm:ss} {line}");

        IDisposable? task = null;
        ISimulatedOracle oracle;
        switch (parse.GetValue(TaskOption))
        {
            case "exact":
                oracle = new ExactMatchOracle();
                break;
            case "sql":
                var settings = CommonOptions.Load(parse);
                var runDir = Path.GetFullPath(Path.Combine(settings.RunDir, "critic-sim"));
                Log($"critic-sim (simulated): building the SQL task's databases under {runDir}");
                var built = TaskCatalog.Create(settings, runDir);
                task = built;
                if (built is not SqlPipelineTask sql)
                    throw new ConfigException($"--task sql: pipeline.task.name is '{built.Name}', not sql");
                oracle = SqlSimulatedOracle.ForTask(sql, Path.Combine(runDir, "databases"), settings.Task.Sql.QueryTimeout);
                break;
            case var other:
                throw new ConfigException($"--task '{other}': expected exact | sql");
        }

        try
        {
            await using var server = await SimulatedCriticServer.StartAsync(options, oracle, Log, cancellationToken);
            Log($"critic-sim (simulated): base-url for the critic: {server.BaseUrl}   (Ctrl-C to stop)");
            var last = server.Stats;
            try
            {
                while (true)
                {
                    await Task.Delay(TimeSpan.FromSeconds(10), cancellationToken);
                    var now = server.Stats;
                    if (now == last) continue;
                    Log($"critic-sim (simulated): {now.ChatRequests} chat requests, {now.Answered} answered, {now.Declined} declined, " +
                        $"{now.Injected500} injected 500, {now.Injected429} injected 429, {now.BadRequests} bad");
                    last = now;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Log("critic-sim (simulated): stopping");
            }
        }
        finally
        {
            task?.Dispose();
        }
        return ExitCodes.Ok;
    }
}
