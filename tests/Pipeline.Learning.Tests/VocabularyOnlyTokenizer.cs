using Pipeline.Learning.Sft;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Learning.Tests;

/// <summary>A tokenizer that only knows its vocabulary size: enough for PolicyFactory to build a model from a folder.</summary>
internal sealed class VocabularyOnlyTokenizer(int size) : IPolicyTokenizer
{
    public int VocabSize => size;
    public int Eos => 0;
    public IReadOnlyList<int> StopTokens => [0];
    public int[] Encode(string text) => [];
    public int[] EncodePrompt(string promptText) => [0];
    public string Decode(ReadOnlySpan<int> ids) => "";
    public void Save(string directory) { }

    /// <summary>Four random SFT examples (5 prompt, 4 completion tokens) drawn from <paramref name="seed"/>.</summary>
    public static SftExample[] RandomSftBatch(int seed, int vocab)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, 4).Select(_ => new SftExample(
            Enumerable.Range(0, 5).Select(_ => r.Next(1, vocab)).ToArray(),
            Enumerable.Range(0, 4).Select(_ => r.Next(1, vocab)).ToArray())).ToArray();
    }
}
