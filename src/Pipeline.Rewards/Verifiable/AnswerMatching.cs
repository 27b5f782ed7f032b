using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Rewards.Verifiable;

/// <summary>
/// How a completion is compared with a reference answer: normalised text (<see cref="Normalize"/>) and the final number
/// (<see cref="FinalNumber"/>). Shared by the verifiable reward sources and the jsonl task's held-out evaluation.
/// </summary>
public static partial class AnswerMatching
{
    /// <summary>
    /// Trims, folds case (unless <paramref name="caseSensitive"/>), collapses runs of whitespace to one space, and drops
    /// surrounding quotes and a final '.', so "  The answer is  42. " and "the answer is 42" are equal.
    /// </summary>
    public static string Normalize(string text, bool caseSensitive = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        var space = false;
        foreach (var c in text.Trim())
        {
            if (char.IsWhiteSpace(c)) { space = true; continue; }
            if (space && sb.Length > 0) sb.Append(' ');
            space = false;
            sb.Append(caseSensitive ? c : char.ToLowerInvariant(c));
        }
        var s = sb.ToString();
        while (s.Length > 0 && s[^1] == '.') s = s[..^1].TrimEnd();
        if (s.Length >= 2 && (s[0], s[^1]) is ('"', '"') or ('\'', '\'') or ('`', '`')) s = s[1..^1].Trim();
        return s;
    }

    /// <summary>
    /// The answer a completion gives as a number: the content of its last <c>\boxed{...}</c> when it has one, else its last
    /// number ("1,234", "-3.5", "2e3", "3/4" all read). Null when there is none.
    /// </summary>
    public static double? FinalNumber(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var boxed = LastBoxed(text);
        var scope = boxed ?? text;
        double? last = null;
        foreach (Match m in NumberPattern().Matches(scope))
            if (ParseNumber(m.Value) is { } v) last = v;
        return last;
    }

    /// <summary>A reference written as a number ("42", "-0.5", "1,000", "3/4", "\boxed{7}"); null when it is not one.</summary>
    public static double? ParseReference(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var text = (LastBoxed(reference) ?? reference).Trim().TrimEnd('.');
        var m = NumberPattern().Match(text);
        return m.Success && m.Length == text.Length ? ParseNumber(m.Value) : null;
    }

    /// <summary>|a - b| within <paramref name="absolute"/> or within <paramref name="relative"/> of |b|.</summary>
    public static bool Close(double a, double b, double absolute, double relative)
        => Math.Abs(a - b) <= Math.Max(absolute, relative * Math.Abs(b));

    private static double? ParseNumber(string raw)
    {
        var s = raw.Replace(",", "", StringComparison.Ordinal);
        var slash = s.IndexOf('/');
        if (slash > 0)
        {
            if (!double.TryParse(s[..slash], NumberStyles.Float, CultureInfo.InvariantCulture, out var num)
                || !double.TryParse(s[(slash + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var den) || den == 0)
                return null;
            return num / den;
        }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : null;
    }

    /// <summary>The content of the last \boxed{...}, braces matched; null when there is none or it is not closed.</summary>
    private static string? LastBoxed(string text)
    {
        var at = text.LastIndexOf(@"\boxed{", StringComparison.Ordinal);
        if (at < 0) return null;
        var start = at + 7;
        var depth = 1;
        for (var i = start; i < text.Length; i++)
        {
            if (text[i] == '{') depth++;
            else if (text[i] == '}' && --depth == 0) return text[start..i];
        }
        return null;
    }

    // A sign, digits with optional thousands commas, a fraction part, an exponent, or a simple a/b fraction.
    [GeneratedRegex(@"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:/\d+)?|-?\.\d+", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex NumberPattern();
}
