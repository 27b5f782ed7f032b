using Pipeline.Learning.Optim;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

/// <summary>
/// <see cref="ScalarOps"/> and <see cref="SafeAdamW"/> compute what TorchSharp's operators and AdamW compute, while keeping
/// every number's Scalar alive through the native call (TorchSharp 0.107 lets the GC free an implicit Scalar mid-call).
/// </summary>
public sealed class ScalarSafetySpec(ITestOutputHelper output)
{
    [Fact]
    public void ScalarOps_equal_the_TorchSharp_operators_they_replace()
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator(7);
        var t = randn(new long[] { 3, 5 }, generator: gen);
        Assert.True(t.Div(0.7).allclose(t / 0.7));
        Assert.True(t.Mul(-1.5).allclose(t * -1.5));
        Assert.True(t.Add(2.0).allclose(t + 2.0));
        Assert.True(t.Sub(1.0).allclose(t - 1.0));
        Assert.True(t.Clamp(-0.2, 0.3).allclose(t.clamp(-0.2, 0.3)));
        Assert.True(t.ClampMin(0.1).allclose(t.clamp_min(0.1)));
        Assert.True(t.ClampMax(0.1).allclose(t.clamp_max(0.1)));
        Assert.True(Same(t.Ge(0.25), t >= 0.25));
        Assert.True(t.MaskedFill(t.Ge(0.0), 9.0).allclose(t.masked_fill(t >= 0.0, 9.0)));
        Assert.True(t.clone().Fill_(4.0).allclose(full_like(t, 4.0)));

        var ints = arange(10, dtype: ScalarType.Int64);
        var shifted = ints.Sub(3L);
        Assert.Equal(ScalarType.Int64, shifted.dtype);  // an integer offset keeps an index tensor integral
        Assert.True(Same(shifted, ints - 3));
        Assert.True(Same(ints.Ne(4L), ints != 4));
        Assert.True(Same(ScalarOps.Arange(6, CPU), arange(6, dtype: ScalarType.Int64)));

        var acc = t.clone();
        acc.AddScaled_(t, 0.5);
        Assert.True(acc.allclose(t * 1.5));
        var other = randn(new long[] { 3, 5 }, generator: gen);
        var positive = other.abs().Add(0.5);
        Assert.True(t.clone().AddcmulScaled_(other, other, 0.1).allclose(t + other * other * 0.1));
        Assert.True(t.clone().AddcdivScaled_(other, positive, -0.3).allclose(t - other / positive * 0.3));
        Assert.True(t.Plus(other).allclose(t + other));
        var sum = t.clone();
        Assert.Same(sum, sum.Plus_(other));
        Assert.True(sum.allclose(t + other));
        Assert.True(t.clone().Add_(0.25).allclose(t + 0.25));
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.1, false)]
    [InlineData(0.1, true)]
    public void SafeAdamW_takes_the_same_steps_as_TorchSharp_AdamW(double weightDecay, bool amsgrad)
    {
        using var scope = NewDisposeScope();
        var (safe, reference) = (MakeLinear(), MakeLinear());
        var safeOpt = new SafeAdamW(safe.parameters(), 0.01, weightDecay, amsgrad);
        var refOpt = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: weightDecay, amsgrad: amsgrad);
        using var gen = new Generator(3);
        for (var step = 0; step < 6; step++)
        {
            var x = randn(new long[] { 8, 4 }, generator: gen);
            foreach (var (model, opt) in new (Linear, optim.Optimizer)[] { (safe, safeOpt), (reference, refOpt) })
            {
                opt.zero_grad();
                model.forward(x).pow(2).mean().backward();
                opt.step();
            }
        }
        var pairs = safe.parameters().Zip(reference.parameters()).ToList();
        Assert.Equal(2, pairs.Count);
        foreach (var (a, b) in pairs)
        {
            var gap = (a - b).abs().max().item<float>();
            output.WriteLine($"max |safe - reference| = {gap:E2}");
            Assert.True(gap < 1e-6, $"SafeAdamW drifted from AdamW by {gap}");
            Assert.False(a.allclose(MakeLinear().parameters().First(p => p.shape.SequenceEqual(a.shape))), "the step did not move the parameters");
        }
        var safeState = (AdamW.State)safeOpt.state_dict().State[0];
        var refState = (AdamW.State)refOpt.state_dict().State[0];
        Assert.Equal(refState.step, safeState.step);
        Assert.True(safeState.exp_avg_sq.allclose(refState.exp_avg_sq));
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static Linear MakeLinear()
    {
        var m = nn.Linear(4, 3);
        using var gen = new Generator(11);
        using var _ = no_grad();
        foreach (var p in m.parameters()) p.copy_(randn(p.shape, generator: gen));
        return m;
    }

    /// <summary>
    /// The reason for all of this, and a tripwire: with a thread forcing collections, TorchSharp's own <c>tensor / number</c>
    /// sometimes fails ("Unknown scalar type") and <see cref="ScalarOps.Div"/> never does. When the first half stops
    /// failing on a new TorchSharp, the workaround (ScalarOps, SafeAdamW, the banned-symbol list) may go.
    /// </summary>
    [Fact]
    [Trait("Category", "Long")]
    public void Under_forced_collections_an_implicit_Scalar_can_be_freed_mid_call_and_a_kept_one_cannot()
    {
        using var x = randn(64, 40000);
        int Failures(Func<Tensor> op, TimeSpan duration, out int runs)
        {
            var stop = 0;
            var collector = new Thread(() => { while (Volatile.Read(ref stop) == 0) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
            collector.Start();
            var failures = 0;
            runs = 0;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                try { using var y = op(); runs++; }
                catch (System.Runtime.InteropServices.ExternalException) { failures++; }
            }
            Volatile.Write(ref stop, 1);
            collector.Join();
            return failures;
        }
        var implicitFailures = Failures(() => x / 0.7, TimeSpan.FromSeconds(60), out var implicitRuns);
        var keptFailures = Failures(() => x.Div(0.7), TimeSpan.FromSeconds(60), out var keptRuns);
        output.WriteLine($"tensor / number: {implicitFailures} of {implicitRuns} failed; ScalarOps.Div: {keptFailures} of {keptRuns}");
        // tensor + tensor: TorchSharp's add(other) makes its alpha = 1 Scalar implicitly (a CI run lost its learner to it).
        using var y = randn(64, 40000);
        var sumFailures = Failures(() => x + y, TimeSpan.FromSeconds(60), out var sumRuns);
        var plusFailures = Failures(() => x.Plus(y), TimeSpan.FromSeconds(60), out var plusRuns);
        output.WriteLine($"tensor + tensor: {sumFailures} of {sumRuns} failed; ScalarOps.Plus: {plusFailures} of {plusRuns}");
        Assert.Equal(0, keptFailures);
        Assert.Equal(0, plusFailures);
        Assert.True(implicitFailures > 0 || sumFailures > 0, "TorchSharp's implicit Scalars survived every forced collection: check whether the workaround is still needed");
    }
}
