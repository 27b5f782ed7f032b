using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Oni.RewardModels;

/// <summary>
/// A critic's pointwise verdict on one text: <see cref="Score"/> in [0, 1]. Read as a class by the reward models:
/// <c>Score &gt;= label-threshold</c> is the positive class. A plain class label is a score of 0 or 1.
/// </summary>
public sealed record PointLabel(string Text, double Score)
{
    /// <summary>The label's class at <paramref name="threshold"/> (a non-finite score is never positive).</summary>
    public bool IsPositive(double threshold) => Score >= threshold;

    /// <summary>Shortcut for a class label (1 or 0).</summary>
    public static PointLabel Class(string text, bool positive) => new(text, positive ? 1.0 : 0.0);
}

/// <summary>
/// A critic's pairwise preference: <see cref="PreferA"/> = 1 when <see cref="TextA"/> is better, 0 when <see cref="TextB"/> is
/// better, 0.5 for a tie; values in between are soft preferences (Bradley-Terry soft labels).
/// </summary>
public sealed record PairLabel(string TextA, string TextB, double PreferA)
{
    /// <summary>Preference exactly 0.5: excluded from pair agreement.</summary>
    public bool IsTie => PreferA == 0.5;
}

/// <summary>
/// Stable identity of a text: SHA-256 of its UTF-8 bytes, truncated to the first 128 bits (read big-endian).
/// Same value in every process and on every machine (unlike <see cref="string.GetHashCode()"/>).
/// </summary>
public static class TextHash
{
    public static UInt128 Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var rented = max <= 1024 ? null : ArrayPool<byte>.Shared.Rent(max);
        Span<byte> buffer = rented ?? stackalloc byte[1024];
        try
        {
            var n = Encoding.UTF8.GetBytes(text, buffer);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer[..n], hash);
            return new UInt128(
                System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash),
                System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash[8..]));
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>32 lower-case hex digits (the first 16 bytes of the SHA-256 digest, in order).</summary>
    public static string ToHex(UInt128 hash) => hash.ToString("x32", CultureInfo.InvariantCulture);

    public static UInt128 ParseHex(string hex) =>
        hex is { Length: 32 } && UInt128.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new FormatException($"'{hex}' is not a 32-digit hex text hash");

    /// <summary>Hex of <see cref="Of"/>.</summary>
    public static string HexOf(string text) => ToHex(Of(text));
}
