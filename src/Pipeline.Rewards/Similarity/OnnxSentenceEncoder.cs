using System.Numerics.Tensors;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;

namespace Pipeline.Rewards.Similarity;

/// <summary>
/// A BERT-style sentence encoder on our own ONNX Runtime <see cref="InferenceSession"/>: FastBertTokenizer
/// (reference-BERT word pieces, symbols kept, lower-casing for an uncased vocab), [CLS]/[SEP] added and truncation at
/// <see cref="SentenceEncoderOptions.MaxLength"/>, batches of <see cref="SentenceEncoderOptions.BatchSize"/> padded to
/// the batch's longest text, mean (attention-masked) or CLS pooling, L2 normalisation.
/// Thread-safe: tokenization is serialised, model runs may overlap.
/// </summary>
public sealed class OnnxSentenceEncoder : ISentenceEncoder, IDisposable
{
    private const string InputIds = "input_ids", AttentionMask = "attention_mask", TokenTypeIds = "token_type_ids";

    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer = new();
    private readonly object _tokenizerLock = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly long _padId;
    private readonly bool _outputIsPooled;
    private long[] _scratchIds;
    private long[] _scratchMask;
    private volatile bool _disposed;

    public OnnxSentenceEncoder(SentenceEncoderOptions? options = null, Action<string>? warn = null)
    {
        Options = options ?? new SentenceEncoderOptions();
        Options.Validate();
        warn ??= static _ => { };

        var embedded = string.IsNullOrEmpty(Options.ModelPath);
        ModelName = embedded ? EmbeddedMiniLm.ModelName : Path.GetFileNameWithoutExtension(Options.ModelPath!);

        // Vocabulary: uncased when no ordinary token has an upper-case letter (then inputs are lower-cased and accents stripped).
        string vocabText;
        using (var reader = embedded ? EmbeddedMiniLm.OpenVocab() : new StreamReader(Options.VocabPath!))
            vocabText = reader.ReadToEnd();
        (LowerCase, _padId) = InspectVocab(vocabText);
        _tokenizer.LoadVocabulary(new StringReader(vocabText), LowerCase);

        (_session, ExecutionProvider) = CreateSession(embedded, Options, warn);
        try
        {
            _inputNames = _session.InputMetadata.Keys.ToArray();
            foreach (var name in _inputNames)
            {
                if (name is not (InputIds or AttentionMask or TokenTypeIds))
                    throw new NotSupportedException($"model '{ModelName}' declares input '{name}'; only {InputIds}, {AttentionMask}, {TokenTypeIds} are fed");
                if (_session.InputMetadata[name].ElementType != typeof(long))
                    throw new NotSupportedException($"model '{ModelName}' input '{name}' is {_session.InputMetadata[name].ElementType.Name}; int64 expected");
            }
            if (!_inputNames.Contains(InputIds))
                throw new NotSupportedException($"model '{ModelName}' has no '{InputIds}' input");

            var output = _session.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : _session.OutputMetadata.Keys.First();
            _outputNames = [output];
            var dims = _session.OutputMetadata[output].Dimensions;
            _outputIsPooled = dims.Length == 2;
            if (dims.Length is not (2 or 3))
                throw new NotSupportedException($"model '{ModelName}' output '{output}' has rank {dims.Length}; [batch, seq, hidden] or [batch, hidden] expected");

            _scratchIds = new long[Options.MaxLength];
            _scratchMask = new long[Options.MaxLength];
            Dimension = dims[^1] > 0 ? dims[^1] : Encode(["dimension probe"], CancellationToken.None)[0].Length;
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    public SentenceEncoderOptions Options { get; }
    public string ModelName { get; }
    public int Dimension { get; }
    /// <summary>"CUDA" or "CPU": where the session actually runs.</summary>
    public string ExecutionProvider { get; }
    /// <summary>True for an uncased vocabulary: inputs are lower-cased (and accents removed) before word-piecing.</summary>
    public bool LowerCase { get; }

    /// <summary>The input ids the model sees for <paramref name="text"/>: [CLS] ... [SEP], at most MaxLength of them.</summary>
    public long[] Tokenize(string text)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_tokenizerLock)
        {
            var n = _tokenizer.Encode(text ?? string.Empty, _scratchIds, _scratchMask);
            return _scratchIds.AsSpan(0, n).ToArray();
        }
    }

    public float[][] Encode(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = new float[texts.Count][];
        for (var start = 0; start < texts.Count; start += Options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(Options.BatchSize, texts.Count - start);
            var batch = TokenizeBatch(texts, start, count);
            using var outputs = Run(batch, cancellationToken);
            Pool(outputs[0], batch, result, start);
        }
        return result;
    }

    /// <summary>Tokenizes texts[start .. start+count) into one [count, longest] batch.</summary>
    internal TokenizedBatch TokenizeBatch(IReadOnlyList<string> texts, int start, int count)
    {
        var max = Options.MaxLength;
        var ids = new long[count * max];
        var lengths = new int[count];
        var longest = 0;
        lock (_tokenizerLock)
        {
            for (var i = 0; i < count; i++)
            {
                var n = _tokenizer.Encode(texts[start + i] ?? string.Empty, ids.AsSpan(i * max, max), _scratchMask);
                lengths[i] = n;
                if (n > longest) longest = n;
            }
        }

        // Compact [count, max] to [count, longest] in place (rows only move left), pad, and build the mask.
        var mask = new long[count * longest];
        for (var i = 0; i < count; i++)
        {
            var row = ids.AsSpan(i * longest, longest);
            if (i > 0) ids.AsSpan(i * max, lengths[i]).CopyTo(row);
            row[lengths[i]..].Fill(_padId);
            mask.AsSpan(i * longest, lengths[i]).Fill(1);
        }
        return new TokenizedBatch(count, longest, ids, mask, lengths);
    }

    /// <summary>One session run on a tokenized batch; the caller disposes the outputs. Cancellation terminates the run.</summary>
    internal IDisposableReadOnlyCollection<OrtValue> Run(TokenizedBatch batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long[] shape = [batch.Count, batch.SequenceLength];
        var length = batch.Count * batch.SequenceLength;
        var values = new OrtValue[_inputNames.Length];
        try
        {
            for (var i = 0; i < _inputNames.Length; i++)
            {
                var data = _inputNames[i] switch
                {
                    InputIds => batch.InputIds.AsMemory(0, length),
                    AttentionMask => batch.AttentionMask.AsMemory(0, length),
                    _ => new long[length].AsMemory(),
                };
                values[i] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, data, shape);
            }
            using var runOptions = new RunOptions();
            using var registration = cancellationToken.CanBeCanceled
                ? cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions)
                : default;
            try
            {
                return _session.Run(runOptions, _inputNames, values, _outputNames);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }
        finally
        {
            foreach (var v in values) v?.Dispose();
        }
    }

    private void Pool(OrtValue output, TokenizedBatch batch, float[][] result, int offset)
    {
        var data = output.GetTensorDataAsSpan<float>();
        var dim = Dimension > 0 ? Dimension : (int)output.GetTensorTypeAndShape().Shape[^1];
        var seq = batch.SequenceLength;
        for (var i = 0; i < batch.Count; i++)
        {
            var vector = new float[dim];
            if (_outputIsPooled)
                data.Slice(i * dim, dim).CopyTo(vector);
            else if (Options.Pooling == SentencePooling.Cls)
                data.Slice(i * seq * dim, dim).CopyTo(vector);
            else
            {
                // Padding sits at the end of each row, so the masked tokens are exactly the first lengths[i].
                var tokens = batch.Lengths[i];
                var row = data.Slice(i * seq * dim, seq * dim);
                for (var t = 0; t < tokens; t++)
                    TensorPrimitives.Add(vector, row.Slice(t * dim, dim), vector);
                TensorPrimitives.Divide(vector, Math.Max(tokens, 1), vector);
            }
            var norm = TensorPrimitives.Norm<float>(vector);
            if (norm > 1e-12f) TensorPrimitives.Divide(vector, norm, vector);
            result[offset + i] = vector;
        }
    }

    private static (bool LowerCase, long PadId) InspectVocab(string vocab)
    {
        var cased = false;
        long padId = -1, id = 0;
        foreach (var line in vocab.AsSpan().EnumerateLines())
        {
            var token = line.TrimEnd('\r');
            if (token.SequenceEqual("[PAD]")) padId = id;
            else if (!(token.Length > 2 && token[0] == '[' && token[^1] == ']') && !(token.Length > 2 && token[0] == '<' && token[^1] == '>'))
                foreach (var c in token)
                    if (char.ToLowerInvariant(c) != c) { cased = true; break; } // not char.IsUpper: uncased vocabs hold e.g. 'ℝ'
            id++;
        }
        if (padId < 0) throw new InvalidDataException("vocab has no [PAD] token; a BERT vocab.txt is expected");
        return (!cased, padId);
    }

    private static (InferenceSession, string) CreateSession(bool embedded, SentenceEncoderOptions options, Action<string> warn)
    {
        var model = embedded ? EmbeddedMiniLm.ReadModelBytes() : null;
        if (!embedded && !File.Exists(options.ModelPath))
            throw new FileNotFoundException($"similarity model '{options.ModelPath}' not found", options.ModelPath);

        if (options.Device != EncoderDevice.Cpu)
        {
            SessionOptions? cuda = null;
            try
            {
                cuda = NewSessionOptions(options);
                cuda.AppendExecutionProvider_CUDA(0);
                var session = model is not null ? new InferenceSession(model, cuda) : new InferenceSession(options.ModelPath!, cuda);
                return (session, "CUDA");
            }
            catch (Exception e)
            {
                var reason = e.Message.Split('\n', 2)[0].Trim();
                warn($"similarity encoder: device = {options.Device.ToString().ToLowerInvariant()} asked for CUDA, but the CUDA execution provider " +
                     $"is not usable here ({e.GetType().Name}: {reason}); falling back to CPU");
            }
            finally
            {
                cuda?.Dispose();
            }
        }
        using var cpu = NewSessionOptions(options);
        return (model is not null ? new InferenceSession(model, cpu) : new InferenceSession(options.ModelPath!, cpu), "CPU");
    }

    private static SessionOptions NewSessionOptions(SentenceEncoderOptions options) => new()
    {
        IntraOpNumThreads = options.IntraOpThreads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    };

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
    }
}

/// <summary>A tokenized batch: [Count, SequenceLength] row-major ids and mask (arrays may be longer than that), and each row's real length.</summary>
internal sealed record TokenizedBatch(int Count, int SequenceLength, long[] InputIds, long[] AttentionMask, int[] Lengths);
