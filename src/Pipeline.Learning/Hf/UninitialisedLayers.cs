using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Hf;

/// <summary>
/// Layers made with or without their random initialisation. A model about to be loaded from a checkpoint skips it:
/// every parameter is overwritten by the loader (which refuses a checkpoint missing any), and drawing the random values
/// first costs as much time as reading the weights.
/// </summary>
internal static class UninitialisedLayers
{
    public static Linear Linear(long inFeatures, long outFeatures, bool hasBias, bool initialise) =>
        initialise
            ? nn.Linear(inFeatures, outFeatures, hasBias: hasBias)
            : nn.Linear(nn.Parameter(empty(outFeatures, inFeatures)), hasBias ? nn.Parameter(empty(outFeatures)) : null);

    public static Embedding Embedding(long count, long dim, bool initialise)
    {
        if (initialise) return nn.Embedding(count, dim);
        // A one-row table is initialised (cheaply), then its weight replaced by an uninitialised one of full size.
        var embedding = nn.Embedding(1, dim);
        embedding.weight = nn.Parameter(empty(count, dim));
        return embedding;
    }
}
