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
/// busy cluster test; with a thread forcing GCs, dividing a 64x40000 tensor by a number failed 20 of 44,165 times and
/// <see cref="Div"/> 0 of 56,224 (ScalarSafetySpec, Long). Worse than the exception: the freed memory may already hold
/// another scalar, and the op then silently uses a wrong constant (a learning rate, a clip bound). Each method here
/// disposes its Scalar after the call returns, which both frees it deterministically and keeps it reachable for the whole call.
/// TorchSharp also makes such Scalars itself: <c>a + b</c> is <c>a.add(b)</c>, which is <c>a.add(b, 1)</c> with an implicit
/// alpha (likewise <c>add_(x)</c>, <c>arange(n)</c>'s start and step, <c>square()</c>, ...; the list, found by walking
/// TorchSharp's IL, is banned too). Under forced collections <c>tensor + tensor</c> failed 30 of 60,028 times and
/// <see cref="Plus"/> 0 of 56,554; a CI run lost its learner to AdamW's <c>add_(eps)</c> this way. <see cref="Plus"/>,
/// <see cref="Plus_"/> and the rest pass rooted static constants for those.
/// </remarks>
public static class ScalarOps
{
    // Rooted for the life of the process (static), so never finalized: the constants TorchSharp's own overloads would make
    // implicitly (add's alpha = 1, arange's start = 0 and step = 1) and drop while the native op still reads them.
    private static readonly Scalar Zero = 0.ToScalar();
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>Runs <paramref name="op"/> on <paramref name="t"/> with <paramref name="value"/> as a Scalar that lives, and is
    /// disposed, around the call. The ops are static lambdas: no delegate or closure is allocated per call.</summary>
    private static Tensor With(Tensor t, Scalar value, Func<Tensor, Scalar, Tensor> op)
    {
        using (value) return op(t, value);
    }

    public static Tensor Add(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.add(s, One));

    /// <summary><paramref name="a"/> + <paramref name="b"/> (TorchSharp's <c>+</c> makes an implicit alpha Scalar).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>In place: <paramref name="a"/> += <paramref name="b"/>.</summary>
    public static Tensor Plus_(this Tensor a, Tensor b) => a.add_(b, One);
    public static Tensor Sub(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.sub(s));
    /// <summary>Integer subtraction (an Int64 tensor stays Int64).</summary>
    public static Tensor Sub(this Tensor t, long value) => With(t, value.ToScalar(), static (t, s) => t.sub(s));
    public static Tensor Mul(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.mul(s));
    public static Tensor Div(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.div(s));
    public static Tensor Mul_(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.mul_(s));
    public static Tensor Div_(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.div_(s));
    public static Tensor Add_(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.add_(s, One));
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

    public static Tensor ClampMin(this Tensor t, double min) => With(t, min.ToScalar(), static (t, s) => t.clamp_min(s));
    public static Tensor ClampMax(this Tensor t, double max) => With(t, max.ToScalar(), static (t, s) => t.clamp_max(s));

    public static Tensor Clamp(this Tensor t, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return t.clamp(lo, hi);
    }

    public static Tensor Ne(this Tensor t, long value) => With(t, value.ToScalar(), static (t, s) => t.ne(s));
    public static Tensor Ge(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.ge(s));

    public static Tensor MaskedFill(this Tensor t, Tensor mask, double value)
    {
        using var s = value.ToScalar();
        return t.masked_fill(mask, s);
    }

    public static Tensor Fill_(this Tensor t, double value) => With(t, value.ToScalar(), static (t, s) => t.fill_(s));

    /// <summary><c>arange(0, end)</c> as Int64 on <paramref name="device"/>.</summary>
    public static Tensor Arange(long end, Device device)
    {
        using var s = end.ToScalar();
        return arange(Zero, s, One, dtype: ScalarType.Int64, device: device);
    }
}
