namespace Pipeline.Testing;

/// <summary>An expectation of a <see cref="VirtualTimeTestKit"/> or a <see cref="VirtualProbe"/> failed; the message says what was expected and what was seen.</summary>
public sealed class VirtualTimeExpectationException(string message) : Exception(message);
