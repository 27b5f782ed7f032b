using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning;

/// <summary>
/// Tensor-and-number arithmetic that keeps the number's TorchSharp <see cref="Scalar"/> alive until the native op has
/// returned. Product code uses these instead of <c>tensor * 0.5</c>, <c>t.clamp(0.8, 1.2)</c> or any other place a number
/// becomes a Scalar implicitly (build/BannedSymbols.TorchSharp.txt makes those a build error under src/).
/// </summary>
/// <remarks>
/// Why: in TorchSharp 0.107 an implicit Scalar is a finalizable object that nothing references once TorchSharp has read
/// its native handle, so a garbage collection during the native call may run its finalizer and free the native scalar
/// while libtorch still reads it. Seen in CI as "Unknown scalar type" from a generator's <c>logits / temperature</c> on a
/// busy cluster test; a scratch stress (a thread forcing GCs while another divided a 64x40000 tensor by a number) failed
/// 2 of 1,278 divisions. Worse than the exception: the freed memory may already hold another scalar, and the op then
/// silently uses a wrong constant (a learning rate, a clip bound). The <c>using</c> below disposes the Scalar after the
/// call returns, which both frees it deterministically and keeps it reachable for the whole call.
/// </remarks>
public static class ScalarOps
{
    public static Tensor Add(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.add(s);
    }

    public static Tensor Sub(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.sub(s);
    }

    /// <summary>Integer subtraction (an Int64 tensor stays Int64).</summary>
    public static Tensor Sub(this Tensor t, long value)
    {
        using var s = value.ToScalar();
        return t.sub(s);
    }

    /// <summary><paramref name="value"/> - <paramref name="t"/>.</summary>
    public static Tensor SubFrom(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        using var negated = t.neg();
        return negated.add(s);
    }

    public static Tensor Mul(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.mul(s);
    }

    public static Tensor Div(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.div(s);
    }

    public static Tensor Mul_(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.mul_(s);
    }

    public static Tensor Div_(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.div_(s);
    }

    public static Tensor Add_(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.add_(s);
    }

    /// <summary>In place: <paramref name="t"/> += <paramref name="alpha"/> * <paramref name="other"/>.</summary>
    public static Tensor AddScaled_(this Tensor t, Tensor other, double alpha)
    {
        using var s = alpha.ToScalar();
        return t.add_(other, s);
    }

    /// <summary>In place: <paramref name="t"/> += <paramref name="value"/> * <paramref name="a"/> * <paramref name="b"/>.</summary>
    public static Tensor AddcmulScaled_(this Tensor t, Tensor a, Tensor b, double value)
    {
        using var s = value.ToScalar();
        return t.addcmul_(a, b, s);
    }

    /// <summary>In place: <paramref name="t"/> += <paramref name="value"/> * <paramref name="a"/> / <paramref name="b"/>.</summary>
    public static Tensor AddcdivScaled_(this Tensor t, Tensor a, Tensor b, double value)
    {
        using var s = value.ToScalar();
        return t.addcdiv_(a, b, s);
    }

    public static Tensor ClampMin(this Tensor t, double min)
    {
        using var s = min.ToScalar();
        return t.clamp_min(s);
    }

    public static Tensor ClampMax(this Tensor t, double max)
    {
        using var s = max.ToScalar();
        return t.clamp_max(s);
    }

    public static Tensor Clamp(this Tensor t, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return t.clamp(lo, hi);
    }

    public static Tensor Ne(this Tensor t, long value)
    {
        using var s = value.ToScalar();
        return t.ne(s);
    }

    public static Tensor Ge(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.ge(s);
    }

    public static Tensor MaskedFill(this Tensor t, Tensor mask, double value)
    {
        using var s = value.ToScalar();
        return t.masked_fill(mask, s);
    }

    public static Tensor Fill_(this Tensor t, double value)
    {
        using var s = value.ToScalar();
        return t.fill_(s);
    }

    /// <summary><c>arange(0, end)</c> as Int64 on <paramref name="device"/>.</summary>
    public static Tensor Arange(long end, Device device)
    {
        using var s = end.ToScalar();
        return arange(s, dtype: ScalarType.Int64, device: device);
    }
}
