using System.Collections.Immutable;
using Akka.Actor;
using Pipeline.Learning.Weights;
using Pipeline.Oni.RewardModels;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Protocol;
using Xunit.Abstractions;
using static Pipeline.Runtime.Actors.Oni.CriticLabeller;

namespace Pipeline.Runtime.Tests;

public class RewardModelTrainerSpec(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output), IDisposable
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(3);
    private readonly string _dir = Directory.CreateTempSubdirectory("rm-trainer-").FullName;

    void IDisposable.Dispose()
    {
        Shutdown();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A stand-in reward model that records its training calls (a real model's learning is tested in Pipeline.Oni.Tests).</summary>
    private sealed class CountingModel : IPointwiseRewardModel
    {
        public List<int> Batches { get; } = [];
        public string Variant => "counting";
        public long Version { get; private set; }
        public RewardModelScore Score(IReadOnlyList<string> texts) => new(new double[texts.Count], new bool[texts.Count]);
        public void Save(string dir)
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "meta.json"), $"{{\"version\": {Version}}}");
        }
        public RewardModelStep TrainStep(IReadOnlyList<PointLabel> batch)
        {
            lock (Batches) Batches.Add(batch.Count);
            Version++;
            return new RewardModelStep(0.5, 0.75, true, null);
        }
        public double Agreement(IReadOnlyList<PointLabel> heldOut) => 0.875;
        public HeldOutMetrics Evaluate(IReadOnlyList<PointLabel> heldOut) => new(heldOut.Count, 0, 0.875, 0.75, 0.625, 0.7);
        public int Steps { get { lock (Batches) return Batches.Count; } }
    }

    private static CriticLabels Labels(params string[] texts)
        => new([.. texts.Select((t, i) => new CriticLabel(t, i % 2, "p" + i, "r" + i))]);

    private static PolicyWeights Weights(long version) => new(new WeightSnapshot(version, [new NamedTensor("w", [1], [0f])]));

    private (IActorRef Trainer, CountingModel Model, OniStats Stats) Trainer(int k = 2, int warmup = 4, int m = 3, int heldOutEvery = 0, int publishEvery = 100)
    {
        var model = new CountingModel();
        var stats = new OniStats();
        var settings = new RewardModelTrainer.Settings(k, warmup, m, BatchSize: 8, heldOutEvery, publishEvery, Path.Combine(_dir, "published"), Seed: 1)
        {
            LabelsDir = _dir,
            BatchWindow = TimeSpan.FromMilliseconds(50),
            PublishMinInterval = TimeSpan.Zero,
        };
        return (Sys.ActorOf(RewardModelTrainer.Props(model, settings, stats)), model, stats);
    }

    [Fact]
    public void Trainer_must_take_k_steps_per_label_batch_until_warmup_then_a_fixed_number_per_learner_step()
    {
        var (trainer, model, _) = Trainer(k: 2, warmup: 4, m: 3);

        trainer.Tell(Labels("a"));             // labels arriving within one batch window are one batch:
        trainer.Tell(Labels("b"));             // 2 labels < 4: k = 2 steps
        AwaitCondition(() => model.Steps == 2, Soon);
        trainer.Tell(Labels("c"));             // 3 < 4: 2 more
        AwaitCondition(() => model.Steps == 4, Soon);
        trainer.Tell(Labels("d", "e"));        // 5 >= 4: no more steps on labels
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(4, model.Steps);

        Sys.EventStream.Publish(Weights(1));   // a learner step: m = 3 steps
        AwaitCondition(() => model.Steps == 7, Soon);
        Sys.EventStream.Publish(Weights(2));
        AwaitCondition(() => model.Steps == 10, Soon);
    }

    [Fact]
    public void Trainer_must_publish_versions_for_the_annotators_and_keep_the_labels_with_the_run()
    {
        var (trainer, model, stats) = Trainer(k: 1, warmup: 100, heldOutEvery: 3, publishEvery: 2);
        var annotators = CreateTestProbe();
        Sys.EventStream.Subscribe(annotators.Ref, typeof(RewardModelTrainer.RewardModelPublished));

        // One label per batch window: each is a new label batch (k = 1 step each).
        foreach (var text in new[] { "a", "b", "c", "d" }) // "c", the 3rd label, is held out; its batch still trains on the others
        {
            var before = model.Steps;
            trainer.Tell(Labels(text));
            AwaitCondition(() => model.Steps == before + 1, Soon);
        }

        var published = annotators.ExpectMsg<RewardModelTrainer.RewardModelPublished>(Soon);
        Assert.Equal(2, published.Version);
        Assert.True(File.Exists(Path.Combine(published.Dir, "meta.json")));
        Assert.Equal(4, annotators.ExpectMsg<RewardModelTrainer.RewardModelPublished>(Soon).Version);
        AwaitAssert(() =>
        {
            var data = new Dictionary<string, double>();
            stats.AddMetrics(data);
            Assert.Equal((3.0, 1.0, 0.875), (data["rm/labels"] - data["rm/heldout_labels"], data["rm/heldout_labels"], data["rm/agreement"]));
            Assert.Equal(4, data["rm/version"]);
            Assert.Equal((0.75, 0.625, 0.7), (data["rm/majority_baseline"], data["rm/balanced_accuracy"], data["rm/auc"]));
        }, Soon);
        Assert.Equal(["a", "b", "d"], LabelFile.Read(Path.Combine(_dir, "labels-train.jsonl")).Select(l => l.Text));
        Assert.Equal(["c"], LabelFile.Read(Path.Combine(_dir, "labels-heldout.jsonl")).Select(l => l.Text));
        Assert.Equal(4, model.Steps);
        Assert.DoesNotContain(model.Batches, b => b > 3); // never more than the three training labels
    }

    [Fact]
    public void A_restored_trainer_starts_from_the_labels_kept_with_the_run()
    {
        LabelFile.Write(Path.Combine(_dir, "labels-train.jsonl"), [new PointLabel("x", 1), new PointLabel("y", 0)]);
        LabelFile.Write(Path.Combine(_dir, "labels-heldout.jsonl"), [new PointLabel("z", 1)]);
        var model = new CountingModel();
        var stats = new OniStats();
        var settings = new RewardModelTrainer.Settings(1, 2, 1, 8, 0, 100, Path.Combine(_dir, "published"), 1) { LabelsDir = _dir, Restore = true, PublishMinInterval = TimeSpan.Zero };
        var trainer = Sys.ActorOf(RewardModelTrainer.Props(model, settings, stats));
        trainer.Tell(new RewardModelTrainer.SaveTo(Path.Combine(_dir, "copy"))); // answered once it has started (and subscribed)
        ExpectMsg<RewardModelTrainer.Saved>(Soon);

        Sys.EventStream.Publish(Weights(1)); // warm-up already met by the restored labels: a learner step trains at once
        AwaitCondition(() => model.Steps == 1, Soon);
        var data = new Dictionary<string, double>();
        stats.AddMetrics(data);
        Assert.Equal(3, data["rm/labels"]);
        trainer.Tell(PoisonPill.Instance);
    }
}
