using System.Collections.Immutable;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;
using Pipeline.Tasks.Sql;

namespace Pipeline.Cli;

/// <summary>
/// A long local run with hostile inputs mixed in, sampling the process's memory: the critic talks to a SIMULATED
/// hostile judge on loopback (8 MB answers, a constant "10", silence past the deadline, garbage), and the SQL task's
/// own execution reward scores hostile queries (many 1 MB values, huge row counts) in the same process while the run
/// trains. Prints RSS, managed heap and live torch tensors every sample and the growth between two minutes.
/// </summary>
internal static class BenchSoakCommand
{
    private static readonly Option<double> Minutes = new("--minutes") { Description = "How long the run trains.", DefaultValueFactory = _ => 30 };
    private static readonly Option<double> From = new("--from-minute") { Description = "Growth is measured from this minute to the end.", DefaultValueFactory = _ => 5 };
    private static readonly Option<int> SampleSeconds = new("--sample-every") { Description = "Seconds between memory samples.", DefaultValueFactory = _ => 15 };

    public static Command Create()
    {
        var command = new Command("soak", "A long run with a SIMULATED hostile judge and hostile SQL mixed in; prints RSS, managed heap and live tensors over time.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.HoconDir, Minutes, From, SampleSeconds,
        };
        command.SetAction((parse, ct) => RunAsync(parse, ct));
        return command;
    }

    private sealed record Sample(double Minute, long Step, double RssMb, double HeapMb, long Tensors, long HostileSql, long HostileJudge);

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var minutes = parse.GetValue(Minutes);
        var from = parse.GetValue(From);
        var every = TimeSpan.FromSeconds(parse.GetValue(SampleSeconds));
        using var judge = HostileJudge.Start();
        string[] overrides =
        [
            "grpo.steps=1000000", "eval.every-steps=0", "eval.limit=20", "checkpoint.every-steps=50", "metrics.plots=off",
            "rewards=execution,rubric,critic", "rewards.sources.critic.required=off", "rewards.sources.critic.deadline=2s",
            $"rewards.critic.base-url=\"{judge.BaseUrl}\"", "rewards.critic.cache-entries=0",
        ];
        var settings = CommonOptions.Load(parse, overrides);
        var root = Path.GetFullPath(Path.Combine(settings.RunDir, "soak__" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)));
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; soak {minutes} min under {root}");
        Console.WriteLine($"hostile judge (simulated) at {judge.BaseUrl}: answers in turn an 8 MB body, {{\"score\": 10}} whatever the candidate, silence for 30 s, non-JSON garbage");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var runDir = Path.Combine(root, "run");
        var run = LocalRun.RunAsync(settings, runDir, false, null, s => Console.WriteLine("[run] " + s), stop.Token);

        // Hostile SQL through the task's own execution reward, on its own copy of the databases, in this process.
        using var sqlTask = (SqlPipelineTask)TaskCatalog.Create(settings, Path.Combine(root, "hostile-sql"));
        var execution = sqlTask.CreateRewardSource("execution");
        long hostileSql = 0, hostileSqlInvalid = 0;
        var sqlLoop = Task.Run(async () =>
        {
            var prompt = sqlTask.RlPrompts.First(p => p.Tag("db") == "shop");  // the queries name its tables
            string[] queries =
            [
                "SELECT zeroblob(1000000) FROM customers, customers",
                "SELECT printf('%.*c', 1000000, 'x') FROM customers, customers",
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r",
                "SELECT a.*, b.* FROM customers a, customers b, customers c",
            ];
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                var q = queries[i++ % queries.Length];
                var rollout = new Rollout($"h{i}", $"hg{i}", prompt.Id, 0, [1], [1], [0f], q, false);
                var group = new RolloutGroup($"hg{i}", prompt, 0, [rollout], TimeSpan.Zero);
                IReadOnlyList<RewardSignal> signals;
                try { signals = await execution.ScoreAsync(group, stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) when (stop.IsCancellationRequested) { break; }
                Interlocked.Increment(ref hostileSql);
                if (!signals[0].Valid) Interlocked.Increment(ref hostileSqlInvalid);
                try { await Task.Delay(500, stop.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        });

        var samples = new List<Sample>();
        var clock = Stopwatch.StartNew();
        var until = TimeSpan.FromMinutes(minutes);
        using var self = Process.GetCurrentProcess();
        Console.WriteLine("minute  step   rss_mb  heap_mb  live_tensors  hostile_sql(invalid)  judge_requests");
        while (clock.Elapsed < until && !run.IsCompleted && !ct.IsCancellationRequested)
        {
            try { await Task.Delay(every, ct).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
            self.Refresh();
            var steps = RunMetrics.Steps(runDir).Count;
            var s = new Sample(clock.Elapsed.TotalMinutes, steps, self.WorkingSet64 / 1e6, GC.GetTotalMemory(false) / 1e6,
                TorchSharp.torch.Tensor.TotalCount, Interlocked.Read(ref hostileSql), judge.Requests);
            samples.Add(s);
            Console.WriteLine($"{s.Minute,6:0.0} {s.Step,5} {s.RssMb,8:0.0} {s.HeapMb,8:0.0} {s.Tensors,13} {s.HostileSql,12} ({Interlocked.Read(ref hostileSqlInvalid)}) {s.HostileJudge,15}");
        }
        stop.Cancel();
        var result = await run.ConfigureAwait(false);
        await sqlLoop.ConfigureAwait(false);
        Console.WriteLine($"run: {result.Status} at step {result.Step}{(result.Error is { } e ? $" ({e})" : "")}");
        if (result.Status == RunStatus.Failed) return ExitCodes.Failed;

        var baseline = samples.FirstOrDefault(x => x.Minute >= from);
        var last = samples.LastOrDefault();
        if (baseline is null || last is null || ReferenceEquals(baseline, last))
        {
            Console.WriteLine($"too short to measure growth from minute {from}");
            return ct.IsCancellationRequested ? ExitCodes.Interrupted : ExitCodes.Ok;
        }
        var window = samples.Where(x => x.Minute >= from).ToList();
        // Single samples swing with the garbage collector; medians of the window's first and last fifth are the steadier figure.
        var fifth = Math.Max(1, window.Count / 5);
        static double Median(IEnumerable<double> xs) { var a = xs.Order().ToArray(); return a.Length == 0 ? double.NaN : a[a.Length / 2]; }
        var early = Median(window.Take(fifth).Select(x => x.RssMb));
        var late = Median(window.TakeLast(fifth).Select(x => x.RssMb));
        Console.WriteLine($"RSS median over the first {fifth} samples from minute {from} vs the last {fifth}: {early:0.0} -> {late:0.0} MB ({(late / early - 1):+0.0%;-0.0%})");
        Console.WriteLine($"RSS minute {baseline.Minute:0.0} -> {last.Minute:0.0}: {baseline.RssMb:0.0} -> {last.RssMb:0.0} MB ({(last.RssMb / baseline.RssMb - 1):+0.0%;-0.0%}); " +
            $"max {window.Max(x => x.RssMb):0.0} MB; live tensors {window.Min(x => x.Tensors)}..{window.Max(x => x.Tensors)}; " +
            $"managed heap {window.Min(x => x.HeapMb):0.0}..{window.Max(x => x.HeapMb):0.0} MB; steps {baseline.Step} -> {last.Step}; " +
            $"hostile SQL scored {Interlocked.Read(ref hostileSql)} ({Interlocked.Read(ref hostileSqlInvalid)} invalid), hostile judge requests {judge.Requests}");
        return ct.IsCancellationRequested ? ExitCodes.Interrupted : ExitCodes.Ok;
    }

    /// <summary>
    /// A SIMULATED hostile judge on an OpenAI-style endpoint (raw sockets, so nothing in a server framework trims what it
    /// sends): each chat request gets, in turn, an 8 MB body, a well-formed top score ({"score": 10}) whatever the candidate, no
    /// answer for 30 s, or bytes that are not JSON.
    /// </summary>
    private sealed class HostileJudge : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _cts = new();
        private long _requests;

        public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/v1";
        public long Requests => Interlocked.Read(ref _requests);

        public static HostileJudge Start()
        {
            var judge = new HostileJudge();
            judge._listener.Start();
            _ = judge.AcceptLoop();
            return judge;
        }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_cts.Token).ConfigureAwait(false); }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
                _ = Serve(client);
            }
        }

        private async Task Serve(TcpClient client)
        {
            using var _ = client;
            try
            {
                var stream = client.GetStream();
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                deadline.CancelAfter(TimeSpan.FromSeconds(60));
                while (await ReadRequest(stream, deadline.Token).ConfigureAwait(false) is { } path)
                {
                    if (!path.Contains("chat/completions", StringComparison.Ordinal))
                    {
                        await Respond(stream, """{"object":"list","data":[{"id":"hostile-sim","object":"model"}]}""", deadline.Token).ConfigureAwait(false);
                        continue;
                    }
                    switch (Interlocked.Increment(ref _requests) % 4)
                    {
                        case 0:
                            var big = new StringBuilder("""{"choices":[{"message":{"role":"assistant","content":" """);
                            big.Append('x', 8 * 1024 * 1024).Append("\"}}]}");
                            await Respond(stream, big.ToString(), deadline.Token).ConfigureAwait(false);
                            break;
                        case 1:
                            await Respond(stream, """{"id":"h","object":"chat.completion","model":"hostile-sim","choices":[{"index":0,"message":{"role":"assistant","content":"{\"score\": 10}"},"finish_reason":"stop"}]}""", deadline.Token).ConfigureAwait(false);
                            break;
                        case 2:
                            await Task.Delay(TimeSpan.FromSeconds(30), deadline.Token).ConfigureAwait(false);
                            return;
                        default:
                            await Respond(stream, "<html>not json", deadline.Token).ConfigureAwait(false);
                            break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        /// <summary>Reads one HTTP/1.1 request (headers and a Content-Length body); returns its path, or null at end of stream.</summary>
        private static async Task<string?> ReadRequest(NetworkStream stream, CancellationToken ct)
        {
            var header = new List<byte>();
            var one = new byte[1];
            while (header.Count < 65536)
            {
                if (await stream.ReadAsync(one, ct).ConfigureAwait(false) == 0) return null;
                header.Add(one[0]);
                if (header.Count >= 4 && header[^1] == '\n' && header[^2] == '\r' && header[^3] == '\n' && header[^4] == '\r') break;
            }
            var text = Encoding.ASCII.GetString(header.ToArray());
            var lines = text.Split("\r\n");
            var length = lines.Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("content-length", StringComparison.OrdinalIgnoreCase))
                .Select(p => int.Parse(p[1].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
            var body = new byte[Math.Min(length, 4 * 1024 * 1024)];
            var read = 0;
            while (read < body.Length)
            {
                var n = await stream.ReadAsync(body.AsMemory(read), ct).ConfigureAwait(false);
                if (n == 0) return null;
                read += n;
            }
            var parts = lines[0].Split(' ');
            return parts.Length > 1 ? parts[1] : "/";
        }

        private static async Task Respond(NetworkStream stream, string body, CancellationToken ct)
        {
            var bytes = Encoding.UTF8.GetBytes(body);
            var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\n\r\n");
            await stream.WriteAsync(head, ct).ConfigureAwait(false);
            await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
        }

        public void Dispose()
        {
            _cts.Cancel();
            _listener.Stop();
            _cts.Dispose();
        }
    }
}
