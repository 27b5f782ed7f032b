using System.Text.RegularExpressions;

namespace Pipeline.Rewards.Critic.Simulated;

/// <summary>
/// Ground truth for the simulated judge: given the question text, the reference answer (null when the prompt had none) and the
/// candidate, a score in [0, 1], or null when the oracle cannot tell (the simulated judge then declines, as a real one might).
/// Implementations must be thread-safe: the server calls them concurrently.
/// </summary>
public interface ISimulatedOracle
{
    /// <summary>Short name, shown in the simulated model id (<c>critic-sim/&lt;name&gt;</c>).</summary>
    string Name { get; }

    double? Score(string question, string? reference, string candidate);
}

/// <summary>
/// The task-free default: 1 when the candidate equals the reference after normalisation (a surrounding Markdown code fence and
/// trailing semicolons removed, whitespace collapsed, case ignored, so SQL keyword case does not matter), 0 otherwise;
/// null without a reference.
/// </summary>
public sealed class ExactMatchOracle : ISimulatedOracle
{
    private static readonly Regex Whitespace = new(@"\s+", RegexOptions.Compiled);

    public string Name => "exact";

    public double? Score(string question, string? reference, string candidate)
        => reference is null ? null : Normalise(candidate) == Normalise(reference) ? 1.0 : 0.0;

    public static string Normalise(string text)
    {
        var t = (text ?? "").Trim();
        if (t.StartsWith("```", StringComparison.Ordinal))
        {
            var firstLineEnd = t.IndexOf('\n');
            t = firstLineEnd < 0 ? "" : t[(firstLineEnd + 1)..];
            var fenceEnd = t.LastIndexOf("```", StringComparison.Ordinal);
            if (fenceEnd >= 0) t = t[..fenceEnd];
        }
        t = Whitespace.Replace(t.Trim().TrimEnd(';').Trim(), " ");
        return t.ToLowerInvariant();
    }
}
