using Pipeline.Learning.Model;
using static TorchSharp.torch;

namespace Pipeline.Learning.Sampling;

/// <summary>
/// Batched autoregressive sampling from a <see cref="PolicyNetwork"/> with a KV cache.
/// </summary>
/// <remarks>
/// <para>Log-probs follow vLLM/veRL: each reported value is log_softmax(logits / Temperature) of the chosen token, i.e. the
/// temperature-scaled model distribution <em>before</em> top-p truncation. The learner must use the same temperature
/// (<c>GrpoSettings.Temperature</c>) so that pi_behaviour and pi_theta are the same distribution family. With
/// Temperature 0 (greedy) the reported log-probs are those of temperature 1.</para>
/// <para>Reproducibility: call k of this sampler (any public sampling method) draws from a generator seeded with
/// SplitMix64(Seed, k). <see cref="RngState"/> is (Seed, k of the next call); a resumed run restores it with
/// <see cref="RestoreRngState"/> and the following calls produce the same samples as the uninterrupted run
/// (given identical weights and inputs).</para>
/// <para>Not thread-safe: use one sampler per thread (dispose scopes are thread-static).</para>
/// </remarks>
public sealed class PolicySampler
{
    /// <summary>Largest batch run through the model at once by <see cref="Generate"/>.</summary>
    public const int MaxBatch = 64;

    private readonly PolicyNetwork _model;
    private ulong _seed;
    private long _calls;

    public PolicySampler(PolicyNetwork model, long seed)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _seed = unchecked((ulong)seed);
    }

    /// <summary>(Seed, Offset): Offset is the index of the next sampling call.</summary>
    public (ulong Seed, long Offset) RngState => (_seed, _calls);

    /// <summary>Continues the random stream from a state captured with <see cref="RngState"/>.</summary>
    public void RestoreRngState((ulong Seed, long Offset) state)
    {
        if (state.Offset < 0) throw new ArgumentOutOfRangeException(nameof(state), "offset must be non-negative");
        (_seed, _calls) = state;
    }

    /// <summary><paramref name="n"/> completions of one prompt: the prompt is prefilled once and its cache shared by all rows.</summary>
    public IReadOnlyList<SampledCompletion> SampleGroup(int[] promptTokens, int n, SamplingSettings s)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        Validate(promptTokens, s);
        using var generator = NextGenerator();
        var results = new List<SampledCompletion>(n);
        for (var done = 0; done < n; done += MaxBatch)
            results.AddRange(Run(new[] { promptTokens }, Math.Min(MaxBatch, n - done), s, generator));
        return results;
    }

    /// <summary>
    /// One completion per prompt (evaluation). Prompts are sorted by length, cut into batches of up to
    /// <see cref="MaxBatch"/>, left-padded and masked; results come back in input order.
    /// </summary>
    public IReadOnlyList<SampledCompletion> Generate(IReadOnlyList<int[]> prompts, SamplingSettings s)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        foreach (var p in prompts) Validate(p, s);
        using var generator = NextGenerator();
        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => prompts[i].Length).ToArray();
        var results = new SampledCompletion[prompts.Count];
        for (var start = 0; start < order.Length; start += MaxBatch)
        {
            var chunk = order.Skip(start).Take(MaxBatch).ToArray();
            var outs = Run(chunk.Select(i => prompts[i]).ToArray(), chunk.Length, s, generator);
            for (var j = 0; j < chunk.Length; j++) results[chunk[j]] = outs[j];
        }
        return results;
    }

    private void Validate(int[] prompt, SamplingSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Temperature < 0 || double.IsNaN(s.Temperature)) throw new ArgumentOutOfRangeException(nameof(s), "Temperature must be >= 0");
        if (!(s.TopP > 0)) throw new ArgumentOutOfRangeException(nameof(s), "TopP must be > 0");
        if (s.MaxTokens <= 0) throw new ArgumentOutOfRangeException(nameof(s), "MaxTokens must be positive");
        if (prompt.Length == 0) throw new ArgumentException("prompt must hold at least one token");
        if (prompt.Length >= _model.ContextLength)
            throw new ArgumentException($"prompt of {prompt.Length} tokens leaves no room in context {_model.ContextLength}");
        foreach (var t in prompt)
            if ((uint)t >= (uint)_model.VocabSize) throw new ArgumentException($"prompt token {t} outside vocabulary");
    }

    private Generator NextGenerator()
    {
        var g = new Generator(SplitMix64(_seed + 0x9E3779B97F4A7C15UL * (ulong)(_calls + 1)));
        _calls++;
        return g;
    }

    private static ulong SplitMix64(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Generates one completion for each of <paramref name="rows"/> rows. With a single prompt the prompt is
    /// prefilled at batch 1 and broadcast into every row's cache; otherwise prompts are left-padded.
    /// </summary>
    private SampledCompletion[] Run(int[][] prompts, int rows, SamplingSettings s, Generator generator)
    {
        using var scope = NewDisposeScope(); // first, so no tensor this call creates outlives it
        var device = _model.Device;
        var shared = prompts.Length == 1;
        var promptLens = Enumerable.Range(0, rows).Select(i => prompts[shared ? 0 : i].Length).ToArray();
        var padded = prompts.Max(p => p.Length);
        var pads = promptLens.Select(l => padded - l).ToArray();
        var anyPad = pads.Any(p => p > 0);
        var maxSteps = Math.Min(s.MaxTokens, _model.ContextLength - promptLens.Min());
        var stops = new HashSet<int>(s.StopTokens ?? Array.Empty<int>());

        var tokens = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var finished = new bool[rows];
        var truncated = new bool[rows];
        float[] logProbs;

        var wasTraining = _model.training;
        _model.eval();
        try
        {
            using var noGrad = no_grad();

            var cache = _model.NewCache(rows, padded + maxSteps);
            var prefillRows = shared ? 1 : rows;
            var promptFlat = new long[prefillRows * padded];
            var posFlat = new long[prefillRows * padded];
            for (var r = 0; r < prefillRows; r++)
            {
                var p = prompts[r];
                for (var j = 0; j < padded; j++)
                {
                    var src = j - pads[r];
                    promptFlat[r * padded + j] = src >= 0 ? p[src] : CompletionBatch.PadToken;
                    posFlat[r * padded + j] = Math.Max(0, src);
                }
            }

            // keyValid[b, slot]: false on left padding; generated slots are always valid.
            Tensor? keyValid = null;
            Tensor? prefillMask = null;
            if (anyPad)
            {
                var valid = new bool[rows * cache.Capacity];
                for (var r = 0; r < rows; r++)
                    for (var j = pads[r]; j < cache.Capacity; j++) valid[r * cache.Capacity + j] = true;
                keyValid = tensor(valid, new[] { (long)rows, cache.Capacity }, device: device);
                // causal & key valid, plus the diagonal so padded query rows never see an all-false row (NaN).
                var causal = ones(padded, padded, dtype: ScalarType.Bool, device: device).tril();
                var diag = eye(padded, dtype: ScalarType.Bool, device: device);
                prefillMask = (causal.unsqueeze(0) & keyValid.narrow(1, 0, padded).unsqueeze(1)) | diag.unsqueeze(0);
                prefillMask = prefillMask.unsqueeze(1);
            }

            var logits = _model.ForwardCached(
                tensor(promptFlat, new[] { (long)prefillRows, padded }, device: device),
                tensor(posFlat, new[] { (long)prefillRows, padded }, device: device),
                cache, prefillMask, causal: !anyPad);
            if (shared && rows > 1) logits = logits.expand(rows, logits.shape[1]);

            var stepLogProbs = new List<Tensor>(maxSteps);
            var stepPositions = new long[rows];
            for (var step = 0; step < maxSteps; step++)
            {
                // Per-step scope: only this step's log-probs and the next logits survive it.
                using var stepScope = NewDisposeScope();
                var (next, lp) = Choose(logits, s, generator);
                stepLogProbs.Add(lp.MoveToOuterDisposeScope());
                var host = next.data<long>().ToArray(); // the one host sync per step: stop checks
                var allDone = true;
                for (var r = 0; r < rows; r++)
                {
                    if (finished[r]) continue;
                    var tok = (int)host[r];
                    tokens[r].Add(tok);
                    if (stops.Contains(tok)) finished[r] = true;
                    else if (tokens[r].Count >= s.MaxTokens || promptLens[r] + tokens[r].Count >= _model.ContextLength)
                        finished[r] = truncated[r] = true;
                    allDone &= finished[r];
                }
                if (allDone) break;

                for (var r = 0; r < rows; r++)
                    stepPositions[r] = Math.Min(promptLens[r] + step, _model.ContextLength - 1);
                var mask = keyValid?.narrow(1, 0, cache.Length + 1).view(rows, 1, 1, cache.Length + 1);
                var nextLogits = _model.ForwardCached(
                    next.unsqueeze(1),
                    tensor(stepPositions, new[] { (long)rows, 1L }, device: device),
                    cache, mask, causal: false).MoveToOuterDisposeScope();
                logits.Dispose();
                logits = nextLogits;
            }

            logProbs = stack(stepLogProbs, 1).cpu().data<float>().ToArray();
            var width = stepLogProbs.Count;
            return Enumerable.Range(0, rows).Select(r =>
                new SampledCompletion(tokens[r].ToArray(), logProbs.AsSpan(r * width, tokens[r].Count).ToArray(), truncated[r] || !finished[r]))
                .ToArray();
        }
        finally
        {
            _model.train(wasTraining);
        }
    }

    /// <summary>Picks the next token per row and returns it with its behaviour log-prob (pre-top-p, temperature-scaled).</summary>
    private static (Tensor Next, Tensor LogProb) Choose(Tensor logits, SamplingSettings s, Generator generator)
    {
        // Sampling and behaviour log-probs in float32, whatever the model computes in.
        if (logits.dtype != ScalarType.Float32) logits = logits.to_type(ScalarType.Float32);
        if (s.Temperature == 0)
        {
            var greedy = logits.argmax(-1);
            return (greedy, logits.log_softmax(-1).gather(-1, greedy.unsqueeze(-1)).squeeze(-1));
        }

        var logp = logits.Div(s.Temperature).log_softmax(-1);
        var probs = logp.exp();
        Tensor next;
        if (s.TopP >= 1.0)
        {
            next = probs.multinomial(1, false, generator).squeeze(-1);
        }
        else
        {
            var (sorted, order) = probs.sort(-1, descending: true);
            // Drop a token when the mass strictly before it already reaches TopP; the top token always survives.
            var drop = (sorted.cumsum(-1) - sorted).Ge(s.TopP);
            var kept = sorted.MaskedFill(drop, 0.0);
            next = order.gather(-1, kept.multinomial(1, false, generator)).squeeze(-1);
        }
        return (next, logp.gather(-1, next.unsqueeze(-1)).squeeze(-1));
    }
}
