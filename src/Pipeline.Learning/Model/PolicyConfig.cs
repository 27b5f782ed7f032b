namespace Pipeline.Learning.Model;

/// <summary>Shape of the decoder-only policy transformer.</summary>
/// <param name="VocabSize">Number of token ids; also the size of the (tied) LM head.</param>
/// <param name="DModel">Residual stream width.</param>
/// <param name="Layers">Number of pre-LN transformer blocks.</param>
/// <param name="Heads">Attention heads; must divide <paramref name="DModel"/>.</param>
/// <param name="ContextLength">Longest sequence the learned position embedding covers.</param>
/// <param name="FfnMultiplier">MLP hidden width as a multiple of <paramref name="DModel"/>.</param>
/// <param name="Positions">Learned absolute position embeddings, or rotary positions (RoPE) with no position parameters.</param>
public sealed record PolicyConfig(
    int VocabSize, int DModel = 128, int Layers = 2, int Heads = 4, int ContextLength = 160, int FfnMultiplier = 4,
    PositionEncoding Positions = PositionEncoding.Learned)
{
    public int HeadDim => DModel / Heads;

    public void Validate()
    {
        if (VocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(VocabSize), VocabSize, "must be positive");
        if (DModel <= 0 || Layers <= 0 || Heads <= 0 || ContextLength <= 1 || FfnMultiplier <= 0)
            throw new ArgumentException($"invalid policy shape: {this}");
        if (DModel % Heads != 0) throw new ArgumentException($"DModel {DModel} is not divisible by Heads {Heads}");
        if (Positions == PositionEncoding.Rotary && HeadDim % 2 != 0)
            throw new ArgumentException($"rotary positions need an even head dimension; DModel {DModel} / Heads {Heads} = {HeadDim}");
    }
}

/// <summary>How the built-in policy knows where a token sits.</summary>
public enum PositionEncoding
{
    /// <summary>A learned embedding per position up to the context (GPT-2); positions past the trained lengths are untrained.</summary>
    Learned,

    /// <summary>Rotary positions (RoPE, base 10,000) on queries and keys: no parameters, relative, any context length.</summary>
    Rotary,
}
