using Pipeline.Learning.Tokenization;

namespace Pipeline.Simulation.Models;

/// <summary>A stand-in tokenizer: every prompt is <c>promptTokens</c> ids long and text is never decoded (simulated sources do not read it).</summary>
public sealed class SimulatedTokenizer(int promptTokens) : IPolicyTokenizer
{
    public const int FirstWordId = 3;
    public const int Words = 250;

    public int VocabSize => FirstWordId + Words;
    public int Eos => 2;
    public IReadOnlyList<int> StopTokens => [Eos];
    public int[] Encode(string text) => new int[promptTokens];
    public int[] EncodePrompt(string promptText) => new int[promptTokens];
    public string Decode(ReadOnlySpan<int> ids) => "";
    public void Save(string directory) => throw new NotSupportedException("a simulated tokenizer is not saved");
}
