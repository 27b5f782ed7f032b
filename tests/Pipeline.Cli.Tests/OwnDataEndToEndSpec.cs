using System.Net;
using System.Text;
using System.Text.Json;
using Pipeline.Runtime.Metrics;

namespace Pipeline.Cli.Tests;

/// <summary>
/// "Train on your own data" as a user does it: the real binary, JSONL files and --set flags only, no code. The arithmetic
/// sample with its numeric reward, and a file written here with a real HTTP reward server that fails 30% of its calls.
/// </summary>
public sealed class OwnDataEndToEndSpec : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(240);
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-owndata-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Runs => Path.Combine(_dir, "runs");

    private static string Json(string s) => JsonSerializer.Serialize(s);

    [Fact]
    public void The_arithmetic_sample_trains_and_evaluates_per_language_with_one_command()
    {
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--config", "samples/arithmetic/arithmetic.conf",
            "--set", $"run-dir={Json(Runs)}", "--set", "grpo.steps=3", "--set", "warm-start.max-epochs=3", "--set", "metrics.plots=off");

        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains("task 'jsonl': 40 demonstrations, 120 RL prompts, 40 held-out", stdout);
        Assert.Contains("rewards: numeric (numeric, fast, w=1, required)", stdout);
        Assert.Contains("step 3/3", stdout);
        using var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory.GetDirectories(Runs).Single(), "eval_final.json")));
        var slices = eval.RootElement.GetProperty("Slices");
        Assert.Equal(20, slices.GetProperty("en").GetProperty("Count").GetInt32());
        Assert.Equal(20, slices.GetProperty("de").GetProperty("Count").GetInt32());
    }

    [Fact]
    public void A_malformed_line_exits_2_naming_file_line_and_field_before_any_run_folder_exists()
    {
        var train = Path.Combine(_dir, "train.jsonl");
        File.WriteAllLines(train, ["""{"prompt": "1+1?", "reference": "2"}""", """{"id": "x", "reference": "2"}"""]);
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            "--set", "task.name=jsonl", "--set", $"task.jsonl.train={Json(train)}", "--set", "warm-start.enabled=off", "--set", "rewards=numeric",
            "--set", $"run-dir={Json(Runs)}");

        Assert.True(code == 2, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains($"{train}:2: field 'prompt': missing", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(Runs));
    }

    [Fact]
    public void A_users_file_trains_with_a_remote_reward_that_fails_30_percent_of_calls_and_loses_nothing()
    {
        var (train, demonstrations, heldout) = WriteUserData();
        using var server = new FlakyRewardServer();

        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "train", "--config", Path.Combine(RepoPaths.Hocon, "smoke.conf"),
            "--set", "task.name=jsonl", "--set", $"task.jsonl.train={Json(train)}", "--set", $"task.jsonl.demonstrations={Json(demonstrations)}",
            "--set", $"task.jsonl.heldout={Json(heldout)}", "--set", "rewards=remote", "--set", $"rewards.remote.url={Json(server.Url)}",
            "--set", "rewards.remote.max-retries=0", "--set", "rewards.remote.breaker-minimum-throughput=100000",
            "--set", "grpo.steps=4", "--set", "warm-start.max-epochs=2", "--set", "metrics.plots=off", "--set", $"run-dir={Json(Runs)}");

        Assert.True(code == 0, $"train exited {code}: {stdout}\n{stderr}");
        Assert.Contains("step 4/4", stdout);
        Assert.True(server.Failed > 0 && server.Succeeded > 0, $"server: {server.Failed} failed, {server.Succeeded} succeeded");
        var run = Directory.GetDirectories(Runs).Single();
        var steps = MetricsRecorder.ReadAll(Path.Combine(run, "metrics.jsonl")).Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Data).ToList();
        Assert.Equal(4, steps.Count);
        // Every fault is counted: the client's failure counter equals the 500s the server has sent so far (none retried).
        var counted = steps[^1]["remote/remote/failures/http-5xx"];
        Assert.InRange(counted, 1, server.Failed);
        // Masked, never 0: the server scores every answered completion 1, so a failure read as 0 would pull a mean below 1.
        Assert.Contains(steps, d => d["reward/remote/invalid_frac"] > 0);
        Assert.All(steps.Where(d => double.IsFinite(d["reward/remote/mean"])), d => Assert.Equal(1.0, d["reward/remote/mean"]));
        using var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "eval_final.json")));
        Assert.Equal(["animals", "colours"], eval.RootElement.GetProperty("Slices").EnumerateObject().Select(p => p.Name).Order());
    }

    /// <summary>Files as someone else would write them: prompts and chat turns, two slices, metadata.</summary>
    private (string Train, string Demonstrations, string HeldOut) WriteUserData()
    {
        var animals = new[] { ("cat", "meow"), ("dog", "woof"), ("cow", "moo"), ("duck", "quack"), ("sheep", "baa") };
        var colours = new[] { ("sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black"), ("blood", "red") };
        IEnumerable<string> Records(int copies, bool chat, bool completion) =>
            Enumerable.Range(0, copies).SelectMany(c => animals.Select(a => (Slice: "animals", Q: $"What does a {a.Item1} say?", A: a.Item2))
                    .Concat(colours.Select(x => (Slice: "colours", Q: $"What colour is {x.Item1}?", A: x.Item2)))
                    .Select((r, i) => (r, i, c)))
                .Select(t => JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["id"] = $"{t.r.Slice}-{t.c}-{t.i}",
                    [chat ? "messages" : "prompt"] = chat ? new object[] { new { role = "user", content = t.r.Q } } : t.r.Q,
                    ["reference"] = t.r.A,
                    ["slice"] = t.r.Slice,
                    ["metadata"] = new { copy = t.c },
                }.Concat(completion ? [new KeyValuePair<string, object>("completion", t.r.A)] : []).ToDictionary()));
        var train = Path.Combine(_dir, "train.jsonl");
        var demonstrations = Path.Combine(_dir, "demonstrations.jsonl");
        var heldout = Path.Combine(_dir, "heldout.jsonl");
        File.WriteAllLines(train, Records(4, chat: true, completion: false));
        File.WriteAllLines(demonstrations, Records(2, chat: true, completion: true));
        File.WriteAllLines(heldout, Records(1, chat: true, completion: false));
        return (train, demonstrations, heldout);
    }

    /// <summary>An OpenRLHF-style reward server (HttpListener) that answers 500 to 3 of every 10 calls and rewards 1 otherwise.</summary>
    private sealed class FlakyRewardServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private int _calls, _failed, _succeeded;

        public FlakyRewardServer()
        {
            var port = FreePort();
            Url = $"http://127.0.0.1:{port}/get_reward";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }
        public int Failed => Volatile.Read(ref _failed);
        public int Succeeded => Volatile.Read(ref _succeeded);

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                using var doc = JsonDocument.Parse(await reader.ReadToEndAsync());
                var n = doc.RootElement.GetProperty("query").GetArrayLength();
                var fail = (Interlocked.Increment(ref _calls) - 1) % 10 < 3;
                var body = Encoding.UTF8.GetBytes(fail ? "{\"error\": \"flaky\"}" : JsonSerializer.Serialize(new { rewards = Enumerable.Repeat(1.0, n) }));
                try
                {
                    context.Response.StatusCode = fail ? 500 : 200;
                    context.Response.ContentType = "application/json";
                    await context.Response.OutputStream.WriteAsync(body);
                    context.Response.Close();
                }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
                {
                    continue;  // the client hung up (its deadline, or the run ending): nothing was delivered, nothing counted
                }
                Interlocked.Increment(ref fail ? ref _failed : ref _succeeded);
            }
        }

        private static int FreePort()
        {
            var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            return port;
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
