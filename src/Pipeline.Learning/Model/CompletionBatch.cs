using static TorchSharp.torch;

namespace Pipeline.Learning.Model;

/// <summary>
/// Teacher-forcing layout of [prompt ++ completion] sequences, right-padded with token 0.
/// Inputs = seq[:, :-1], Targets = seq[:, 1:], Mask marks target positions that are completion tokens.
/// Completion token j of row i sits at target index (promptLen_i - 1 + j).
/// </summary>
internal sealed class CompletionBatch
{
    public const long PadToken = 0;

    private CompletionBatch(Tensor inputs, Tensor targets, Tensor mask, Tensor? values, Tensor tokenIndex, int tokens)
    {
        Inputs = inputs;
        Targets = targets;
        Mask = mask;
        Values = values;
        TokenIndex = tokenIndex;
        Tokens = tokens;
    }

    /// <summary>[Tokens] int64 flat (row-major) indices of the completion positions, in order.</summary>
    public Tensor TokenIndex { get; }

    /// <summary>Completion-token entries of a [N, L-1, ...] tensor, flattened to [Tokens, ...] (row-major order).</summary>
    public Tensor PerToken(Tensor x)
    {
        var shape = new long[x.dim() - 1];
        shape[0] = -1;
        for (var i = 2; i < x.dim(); i++) shape[i - 1] = x.shape[i];
        return x.reshape(shape).index_select(0, TokenIndex);
    }

    /// <summary>[N, L-1] int64.</summary>
    public Tensor Inputs { get; }
    /// <summary>[N, L-1] int64.</summary>
    public Tensor Targets { get; }
    /// <summary>[N, L-1] bool: true on completion tokens.</summary>
    public Tensor Mask { get; }
    /// <summary>[N, L-1] float32 per-completion-token values (e.g. behaviour log-probs), 0 elsewhere; null if none given.</summary>
    public Tensor? Values { get; }
    /// <summary>Number of completion tokens (true entries in <see cref="Mask"/>).</summary>
    public int Tokens { get; }

    public static CompletionBatch Build(
        int rows, Func<int, int[]> prompt, Func<int, int[]> completion, Func<int, float[]>? perToken,
        PolicyNetwork model)
    {
        var maxLen = 2;
        for (var i = 0; i < rows; i++)
        {
            var p = prompt(i);
            var c = completion(i);
            if (p.Length == 0) throw new ArgumentException($"row {i}: prompt must hold at least one token (e.g. BOS)");
            if (perToken is not null && perToken(i).Length != c.Length)
                throw new ArgumentException($"row {i}: {perToken(i).Length} per-token values for {c.Length} completion tokens");
            var len = p.Length + c.Length;
            if (len - 1 > model.ContextLength)
                throw new ArgumentException($"row {i}: sequence of {len} tokens needs {len - 1} inputs > context {model.ContextLength}");
            maxLen = Math.Max(maxLen, len);
        }

        var width = maxLen - 1;
        var inputs = new long[rows * width];
        var targets = new long[rows * width];
        var mask = new bool[rows * width];
        var values = perToken is null ? null : new float[rows * width];
        var tokens = 0;
        var index = new List<long>();
        for (var i = 0; i < rows; i++)
        {
            var p = prompt(i);
            var c = completion(i);
            var v = perToken?.Invoke(i);
            var len = p.Length + c.Length;
            for (var j = 0; j < len; j++)
            {
                var tok = j < p.Length ? p[j] : c[j - p.Length];
                if ((uint)tok >= (uint)model.VocabSize) throw new ArgumentException($"row {i}: token {tok} outside vocabulary {model.VocabSize}");
                if (j < width) inputs[i * width + j] = tok;
                if (j > 0) targets[i * width + j - 1] = tok;
            }
            for (var j = 0; j < c.Length; j++)
            {
                var at = i * width + p.Length - 1 + j;
                mask[at] = true;
                index.Add(at);
                if (values is not null) values[at] = v![j];
            }
            tokens += c.Length;
        }

        var device = model.Device;
        var shape = new long[] { rows, width };
        return new CompletionBatch(
            tensor(inputs, shape, device: device),
            tensor(targets, shape, device: device),
            tensor(mask, shape, device: device),
            values is null ? null : tensor(values, shape, device: device),
            tensor(index.ToArray(), device: device),
            tokens);
    }

    /// <summary>Rows [start, start+count) of every tensor; <paramref name="tokenOffset"/> = completion tokens in rows before <paramref name="start"/>.</summary>
    public CompletionBatch Rows(long start, long count, int tokenOffset, int tokens) =>
        new(Inputs.narrow(0, start, count), Targets.narrow(0, start, count), Mask.narrow(0, start, count),
            Values?.narrow(0, start, count), TokenIndex.narrow(0, tokenOffset, tokens).Sub(start * Inputs.shape[1]), tokens);
}
