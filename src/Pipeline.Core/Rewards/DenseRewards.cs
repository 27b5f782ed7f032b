namespace Pipeline.Core.Rewards;

/// <summary>
/// Dense feedback (DRLC): spans a source marked on the completion text become per-token rewards. A token earns the
/// value of every span it overlaps (character ranges), times the source's weight and the dense coefficient; the learner
/// adds the result to that token's advantage.
/// </summary>
public static class DenseRewards
{
    /// <param name="tokenStarts">Character offset where each completion token's text begins, ascending.</param>
    /// <param name="textLength">Length of the completion text (the last token ends there).</param>
    /// <returns>One bonus per token, or null when no span touches any token.</returns>
    public static float[]? TokenBonus(IReadOnlyList<(IReadOnlyList<SpanReward> Spans, double Scale)> marked, int[] tokenStarts, int textLength)
    {
        float[]? bonus = null;
        foreach (var (spans, scale) in marked)
        {
            if (scale == 0) continue;
            foreach (var span in spans)
            {
                if (span.Length <= 0 || !double.IsFinite(span.Value)) continue;
                var (start, end) = (span.Start, span.Start + span.Length);
                for (var t = 0; t < tokenStarts.Length; t++)
                {
                    var tokenEnd = t + 1 < tokenStarts.Length ? tokenStarts[t + 1] : textLength;
                    if (tokenEnd <= start || tokenStarts[t] >= end || tokenEnd <= tokenStarts[t]) continue;
                    bonus ??= new float[tokenStarts.Length];
                    bonus[t] += (float)(scale * span.Value);
                }
            }
        }
        return bonus;
    }
}
