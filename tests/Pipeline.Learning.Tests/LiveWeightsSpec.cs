using Pipeline.Learning.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

/// <summary>The learner's own tensors as the source of published versions: no copy per version, in-place application.</summary>
public sealed class LiveWeightsSpec
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);

    private sealed class Pair : nn.Module
    {
        private readonly TorchSharp.Modules.Parameter half;
        private readonly TorchSharp.Modules.Parameter full;

        public Pair(int seed, ScalarType halfType = ScalarType.BFloat16) : base("pair")
        {
            var g = new Generator().manual_seed(seed);
            half = nn.Parameter(randn([64, 48], generator: g).to(halfType));
            full = nn.Parameter(randn([31], generator: g));
            RegisterComponents();
        }
    }

    private static byte[][] Bytes(nn.Module m) => m.state_dict().Values.Select(t => t.bytes.ToArray()).ToArray();

    [Fact]
    public void A_generator_in_the_same_process_copies_the_learners_tensors_bit_for_bit_in_place()
    {
        using var learner = new Pair(1);
        using var generator = new Pair(2);
        var held = generator.state_dict().Values.Select(t => t.bytes.ToArray().Length).ToArray();
        using var live = new LiveWeights(learner);

        Assert.True(WeightTransfer.Apply(generator, live.Publish(1), Lease));

        Assert.Equal(Bytes(learner), Bytes(generator));
        Assert.Equal(64 * 48 * 2 + 31 * 4, live.Publish(1).TotalBytes());  // bf16 counts 2 bytes an element
        Assert.Equal(held, generator.state_dict().Values.Select(t => t.bytes.ToArray().Length).ToArray());
    }

    [Fact]
    public void A_version_the_learner_has_moved_past_opens_no_lease_and_leaves_the_generator_untouched()
    {
        using var learner = new Pair(3);
        using var generator = new Pair(4);
        using var live = new LiveWeights(learner);
        var v1 = live.Publish(1);
        live.BeginUpdate();
        var before = Bytes(generator);

        Assert.Null(v1.TryOpen(Lease));
        Assert.False(WeightTransfer.Apply(generator, v1, Lease));
        Assert.Equal(before, Bytes(generator));
        Assert.True(WeightTransfer.Apply(generator, live.Publish(2), Lease));
        Assert.Equal(Bytes(learner), Bytes(generator));
    }

    [Fact]
    public async Task The_learner_cannot_update_while_a_reader_holds_a_lease_and_says_so_after_its_deadline()
    {
        using var learner = new Pair(5);
        using var live = new LiveWeights(learner, writerWait: TimeSpan.FromMilliseconds(50));
        var v1 = live.Publish(1);
        var opened = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        var reader = Task.Run(() =>
        {
            using var lease = v1.TryOpen(Lease);
            opened.Set();
            release.Wait(TimeSpan.FromSeconds(10));
        });
        Assert.True(opened.Wait(TimeSpan.FromSeconds(10)));

        var e = Assert.Throws<TimeoutException>(live.BeginUpdate);
        Assert.Contains("reader held v1", e.Message);
        release.Set();
        await reader.WaitAsync(TimeSpan.FromSeconds(10));
        live.BeginUpdate();
        Assert.Equal(-1, live.Version);
    }

    [Fact]
    public void A_dtype_mismatch_is_refused_by_name_before_anything_is_written()
    {
        using var learner = new Pair(6);
        using var generator = new Pair(7, ScalarType.Float32);
        using var live = new LiveWeights(learner);
        var before = Bytes(generator);

        var e = Assert.Throws<InvalidOperationException>(() => WeightTransfer.Apply(generator, live.Publish(1), Lease));

        Assert.Contains("tensor 'half' is BFloat16, module holds Float32", e.Message);
        Assert.Equal(before, Bytes(generator));
    }
}
