namespace Pipeline.Runtime.Actors;

/// <summary>Dispatcher ids declared in the built-in HOCON defaults.</summary>
public static class Dispatchers
{
    /// <summary>One dedicated thread per actor (PinnedDispatcher): TorchSharp dispose scopes are thread-static.</summary>
    public const string Torch = "pipeline-torch-dispatcher";

    /// <summary>The generators' mailbox: <see cref="Protocol.PolicyWeights"/> first (<see cref="GeneratorMailbox"/>).</summary>
    public const string GeneratorMailbox = "pipeline-generator-mailbox";
}
