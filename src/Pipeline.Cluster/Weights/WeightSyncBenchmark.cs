using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Pipeline.Cluster.Roles;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Protocol;
using AkkaCluster = Akka.Cluster.Cluster;

namespace Pipeline.Cluster;

/// <summary>One weight-sync measurement: a snapshot of <c>Bytes</c> from the learner node to every generator node.</summary>
public sealed record WeightSyncResult(long Bytes, int Chunks, int Receivers, IReadOnlyList<double> Seconds)
{
    public double Median => Seconds.Order().ElementAt(Seconds.Count / 2);
    public double Best => Seconds.Min();
    public override string ToString() =>
        $"{Bytes / (1024.0 * 1024):0} MB in {Chunks} chunks to {Receivers} generator nodes: median {Median:0.000} s, best {Best:0.000} s " +
        $"({Bytes * (double)Receivers / (1024 * 1024) / Median:0} MB/s delivered) over {Seconds.Count} runs";
}

/// <summary>
/// Weight-sync time on loopback, through the production path: three cluster ActorSystems in this process talking over
/// real TCP remoting (a learner node and <c>receivers</c> generator nodes, each with its <see cref="WeightsBridge"/>);
/// a snapshot is published on the learner node's EventStream as the Learner does, its version announced over distributed
/// pub-sub, pulled by each generator node in 256 KiB chunks, reassembled, SHA-256-checked and published on its EventStream.
/// The clock runs from the learner's publication to the moment the last generator node's EventStream delivered it.
/// </summary>
public static class WeightSyncBenchmark
{
    private sealed class Arrivals : ReceiveActor
    {
        public Arrivals(ConcurrentDictionary<(string Node, long Version), long> sink, string node)
        {
            Receive<PolicyWeights>(w => sink.TryAdd((node, w.Version), Stopwatch.GetTimestamp()));
        }
    }

    public static async Task<IReadOnlyList<WeightSyncResult>> RunAsync(PipelineSettings settings, IReadOnlyList<int> sizesMb, int repeats = 3,
        int receivers = 2, Action<string>? progress = null)
    {
        var systems = new List<ActorSystem>();
        try
        {
            await StartLoopbackCluster(settings, receivers, systems).ConfigureAwait(false);
            var learner = systems[0];

            var arrivals = new ConcurrentDictionary<(string, long), long>();
            learner.ActorOf(WeightsBridge.Props(DistributedPubSub.Get(learner).Mediator, upstream: null), ClusterRoles.BridgeName);
            var counters = new List<WeightsBridge.Counter>();
            foreach (var (s, i) in systems.Skip(1).Select((s, i) => (s, i)))
            {
                var counter = new WeightsBridge.Counter();
                counters.Add(counter);
                var link = s.ActorOf(LearnerLink.Props("weights", ["user", ClusterRoles.BridgeName]), "weights-link");
                s.ActorOf(WeightsBridge.Props(DistributedPubSub.Get(s).Mediator, link, counter), ClusterRoles.BridgeName);
                var probe = s.ActorOf(Props.Create(() => new Arrivals(arrivals, $"g{i}")), "arrivals");
                s.EventStream.Subscribe(probe, typeof(PolicyWeights));
            }

            // Warm-up: a small version until every generator node has it (subscriptions gossiped, associations open).
            long version = 1;
            var warm = Snapshot(1, version);
            await WaitUntil(() =>
            {
                learner.EventStream.Publish(new PolicyWeights(warm with { Version = ++version }));
                Thread.Sleep(200);
                return counters.All(c => c.NewestVersion >= 2);
            }, TimeSpan.FromSeconds(30), "warm-up weights on every generator node").ConfigureAwait(false);

            var results = new List<WeightSyncResult>();
            foreach (var mb in sizesMb)
            {
                var times = new List<double>();
                var chunks = 0;
                for (var r = 0; r < repeats; r++)
                {
                    var snapshot = Snapshot(mb, ++version);
                    chunks = WeightStreamSender.ChunkCount(snapshot.Layouts, WeightTransfer.DefaultChunkBytes);
                    GC.Collect();
                    var v = version;
                    var start = Stopwatch.GetTimestamp();
                    learner.EventStream.Publish(new PolicyWeights(snapshot));
                    await WaitUntil(() => Enumerable.Range(0, receivers).All(i => arrivals.ContainsKey(($"g{i}", v))),
                        TimeSpan.FromSeconds(120), $"{mb} MB (v{v}) on every generator node; bridges: " +
                        string.Join("; ", counters.Select(c => $"newest v{c.NewestVersion}, {c.FromTopic} from topic, {c.ChunksReceived} chunks, {c.FailedTransfers} failed"))).ConfigureAwait(false);
                    var last = Enumerable.Range(0, receivers).Max(i => arrivals[($"g{i}", v)]);
                    times.Add(Stopwatch.GetElapsedTime(start, last).TotalSeconds);
                }
                var result = new WeightSyncResult(mb * 1024L * 1024, chunks, receivers, times);
                progress?.Invoke(result.ToString());
                results.Add(result);
            }
            return results;
        }
        finally
        {
            foreach (var s in Enumerable.Reverse(systems)) await s.Terminate().WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        }
    }

    /// <summary>One model-sized weight-sync measurement (see <see cref="RunModelAsync"/>).</summary>
    public sealed record ModelSyncResult(long VersionBytes, int Tensors, int Chunks, int ChunkBytes, int Receivers, IReadOnlyList<double> Seconds,
        long InFlightPeakBytes, long RssPeakDeltaBytes, long ManagedPeakDeltaBytes, long OldExportAllocatedBytes)
    {
        public double Median => Seconds.Order().ElementAt(Seconds.Count / 2);
    }

    /// <summary>
    /// Weight sync of a real module through the production path: the learner node publishes <see cref="LiveWeights"/>
    /// over its own tensors (as the Learner does), <paramref name="receivers"/> generator nodes on loopback pull it as a
    /// chunk stream, stage it and copy it into their own module of the same shape in place. The clock stops when the last
    /// generator node's module holds the version. Memory: the learner bridge's peak of chunk bytes sent and not yet
    /// acknowledged, and this process's peak RSS and managed-heap growth over the sync, sampled every 2 ms (learner and
    /// receivers together, so an upper bound on the learner's share).
    /// </summary>
    public static async Task<ModelSyncResult> RunModelAsync(PipelineSettings settings, Func<TorchSharp.torch.nn.Module> create, int repeats = 3,
        int receivers = 2, int chunkBytes = WeightTransfer.DefaultChunkBytes)
    {
        var systems = new List<ActorSystem>();
        var models = new List<TorchSharp.torch.nn.Module>();
        LiveWeights? live = null;
        try
        {
            await StartLoopbackCluster(settings, receivers, systems).ConfigureAwait(false);
            var learner = systems[0];

            var source = create();
            models.Add(source);
            live = new LiveWeights(source);
            var oldAllocated = GC.GetAllocatedBytesForCurrentThread();
            var old = WeightTransfer.Export(source, 0);  // what publishing cost before: a managed float32 copy of every exported tensor
            oldAllocated = GC.GetAllocatedBytesForCurrentThread() - oldAllocated;
            GC.KeepAlive(old);
            old = null;

            var learnerCounter = new WeightsBridge.Counter();
            learner.ActorOf(WeightsBridge.Props(DistributedPubSub.Get(learner).Mediator, upstream: null, counter: learnerCounter, chunkBytes: chunkBytes),
                ClusterRoles.BridgeName);
            var arrivals = new ConcurrentDictionary<(string, long), long>();
            var counters = new List<WeightsBridge.Counter>();
            foreach (var (s, i) in systems.Skip(1).Select((s, i) => (s, i)))
            {
                var counter = new WeightsBridge.Counter();
                counters.Add(counter);
                var model = create();
                models.Add(model);
                var link = s.ActorOf(LearnerLink.Props("weights", ["user", ClusterRoles.BridgeName]), "weights-link");
                s.ActorOf(WeightsBridge.Props(DistributedPubSub.Get(s).Mediator, link, counter, chunkBytes: chunkBytes), ClusterRoles.BridgeName);
                var probe = s.ActorOf(Props.Create(() => new Applier(arrivals, $"g{i}", model)), "applier");
                s.EventStream.Subscribe(probe, typeof(PolicyWeights));
            }

            long version = 1;
            learner.EventStream.Publish(new PolicyWeights(live.Publish(version)));
            await WaitUntil(() => Enumerable.Range(0, receivers).All(i => arrivals.ContainsKey(($"g{i}", 1L))), TimeSpan.FromSeconds(120),
                "warm-up version on every generator node").ConfigureAwait(false);

            var times = new List<double>();
            long rssPeak = 0, managedPeak = 0;
            for (var r = 0; r < repeats; r++)
            {
                live.BeginUpdate();
                var v = ++version;
                GC.Collect();
                GC.WaitForPendingFinalizers();
                var rss0 = Rss();
                var managed0 = GC.GetTotalMemory(false);
                using var stop = new CancellationTokenSource();
                long rssMax = rss0, managedMax = managed0;
                var sampler = Task.Run(() =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        rssMax = Math.Max(rssMax, Rss());
                        managedMax = Math.Max(managedMax, GC.GetTotalMemory(false));
                        Thread.Sleep(2);
                    }
                });
                var start = Stopwatch.GetTimestamp();
                learner.EventStream.Publish(new PolicyWeights(live.Publish(v)));
                await WaitUntil(() => Enumerable.Range(0, receivers).All(i => arrivals.ContainsKey(($"g{i}", v))), TimeSpan.FromSeconds(300),
                    $"v{v} on every generator node; bridges: " + string.Join("; ", counters.Select(c => $"newest v{c.NewestVersion}, {c.ChunksReceived} chunks, {c.FailedTransfers} failed"))).ConfigureAwait(false);
                var last = Enumerable.Range(0, receivers).Max(i => arrivals[($"g{i}", v)]);
                times.Add(Stopwatch.GetElapsedTime(start, last).TotalSeconds);
                stop.Cancel();
                await sampler.ConfigureAwait(false);
                rssPeak = Math.Max(rssPeak, rssMax - rss0);
                managedPeak = Math.Max(managedPeak, managedMax - managed0);
            }
            var layouts = live.Layouts;
            return new ModelSyncResult(layouts.Sum(l => l.ByteLength), layouts.Count, WeightStreamSender.ChunkCount(layouts, chunkBytes), chunkBytes,
                receivers, times, learnerCounter.InFlightBytesPeak, rssPeak, managedPeak, oldAllocated);
        }
        finally
        {
            foreach (var s in Enumerable.Reverse(systems)) await s.Terminate().WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
            live?.Dispose();
            foreach (var m in models) m.Dispose();
        }
    }

    /// <summary>A generator node's stand-in: applies each new version to its own module in place, then notes the time.</summary>
    private sealed class Applier : ReceiveActor
    {
        public Applier(ConcurrentDictionary<(string Node, long Version), long> sink, string node, TorchSharp.torch.nn.Module model)
        {
            Receive<PolicyWeights>(w =>
            {
                if (WeightTransfer.Apply(model, w.Weights, TimeSpan.FromSeconds(60))) sink.TryAdd((node, w.Version), Stopwatch.GetTimestamp());
            });
        }
    }

    /// <summary>Resident set size from /proc/self/statm (0 where there is none).</summary>
    private static long Rss()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (IOException) { return 0; }
    }

    /// <summary>A snapshot of about <paramref name="mb"/> MiB of float32 in 4 MiB tensors (random values: nothing compresses).</summary>
    internal static WeightSnapshot Snapshot(int mb, long version)
    {
        var floats = Math.Max(1L, mb * 1024L * 1024 / sizeof(float));
        var random = new Random(17);
        var tensors = new List<NamedTensor>();
        for (long done = 0, i = 0; done < floats; i++)
        {
            var n = (int)Math.Min(1024 * 1024, floats - done);
            var data = new float[n];
            for (var k = 0; k < n; k++) data[k] = (float)random.NextDouble();
            tensors.Add(new NamedTensor($"layer{i}.weight", [n], data));
            done += n;
        }
        return new WeightSnapshot(version, tensors);
    }

    /// <summary>A learner node and <paramref name="receivers"/> generator nodes on 127.0.0.1, all Up; added to <paramref name="systems"/> as they start (learner first).</summary>
    private static async Task StartLoopbackCluster(PipelineSettings settings, int receivers, List<ActorSystem> systems)
    {
        var config = Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
        var learner = ActorSystem.Create("pipeline", config.WithFallback(ClusterRoles.NodeConfig(settings, "127.0.0.1", 0, [ClusterRoles.Learner])));
        systems.Add(learner);
        for (var i = 0; i < receivers; i++)
            systems.Add(ActorSystem.Create("pipeline", config.WithFallback(ClusterRoles.NodeConfig(settings, "127.0.0.1", 0, [ClusterRoles.Generator]))));
        var seed = AkkaCluster.Get(learner).SelfAddress;
        AkkaCluster.Get(learner).Join(seed);
        foreach (var s in systems.Skip(1)) AkkaCluster.Get(s).JoinSeedNodes([seed]);
        await WaitUntil(() => systems.All(s => AkkaCluster.Get(s).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == systems.Count),
            TimeSpan.FromSeconds(30), "cluster Up").ConfigureAwait(false);
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan deadline, string what)
    {
        var until = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"weight-sync benchmark: not reached within {deadline.TotalSeconds:0} s: {what}");
            await Task.Delay(5).ConfigureAwait(false);
        }
    }
}
