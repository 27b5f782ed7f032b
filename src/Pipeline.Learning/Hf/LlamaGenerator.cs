using Pipeline.Learning.Model;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>How the next token is chosen: temperature 0 is greedy (argmax, first of ties), else nucleus sampling.</summary>
public sealed record SamplingOptions(double Temperature, double TopP, int Seed);

/// <summary>Autoregressive decoding of one sequence with any policy's KV cache: one prefill of the prompt, then one token per step (cancellable between tokens).</summary>
public static class LlamaGenerator
{
    /// <returns>The new token ids, ending with a stop id when one was produced.</returns>
    public static List<int> Generate(PolicyNetwork model, IReadOnlyList<int> prompt, int maxNewTokens, SamplingOptions options,
        IReadOnlyCollection<int> stopIds, CancellationToken ct = default)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt needs at least one token (BOS)", nameof(prompt));
        var device = model.Device;
        var random = new Random(options.Seed);
        var generated = new List<int>();
        using var noGrad = no_grad();
        using var cache = model.NewCache(1, prompt.Count + maxNewTokens).Detached();
        var input = prompt.Select(t => (long)t).ToArray();
        while (generated.Count < maxNewTokens)
        {
            ct.ThrowIfCancellationRequested();
            float[] logits;
            using (NewDisposeScope())
            {
                var start = cache.Length;
                var positions = Enumerable.Range(0, input.Length).Select(i => start + i).ToArray();
                logits = model.ForwardCached(tensor(input, new long[] { 1, input.Length }, device: device),
                    tensor(positions, new long[] { 1, input.Length }, device: device), cache, null, causal: input.Length > 1)[0].cpu().data<float>().ToArray();
            }
            var next = Pick(logits, options, random);
            generated.Add(next);
            if (stopIds.Contains(next)) break;
            input = [next];
        }
        return generated;
    }

    /// <summary>The next token from one position's logits.</summary>
    public static int Pick(float[] logits, SamplingOptions options, Random random)
    {
        if (options.Temperature <= 0)
        {
            var best = 0;
            for (var i = 1; i < logits.Length; i++)
                if (logits[i] > logits[best]) best = i;
            return best;
        }
        var max = logits.Max();
        var probs = logits.Select(l => Math.Exp((l - max) / options.Temperature)).ToArray();
        var total = probs.Sum();
        var order = Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).ToArray();
        // Nucleus: the smallest set of most likely tokens whose mass reaches top_p, renormalised.
        var kept = 0;
        var mass = 0.0;
        while (kept < order.Length && (kept == 0 || mass < options.TopP * total)) mass += probs[order[kept++]];
        var r = random.NextDouble() * mass;
        for (var k = 0; k < kept; k++)
        {
            r -= probs[order[k]];
            if (r <= 0) return order[k];
        }
        return order[kept - 1];
    }
}
