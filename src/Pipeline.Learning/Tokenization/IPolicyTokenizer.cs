using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;

namespace Pipeline.Learning.Tokenization;

/// <summary>
/// The policy's tokenizer as the sampler, trainers, evaluator and reward decoding use it: the built-in BPE learned from
/// the task (<see cref="PolicyTokenizer"/>) or a Hugging Face model's own (<see cref="Hf.HfPolicyTokenizer"/>).
/// </summary>
public interface IPolicyTokenizer
{
    /// <summary>Number of ids the tokenizer can produce.</summary>
    int VocabSize { get; }

    /// <summary>The id that ends a demonstration's completion in SFT.</summary>
    int Eos { get; }

    /// <summary>Ids that end sampling (the model's eos ids).</summary>
    IReadOnlyList<int> StopTokens { get; }

    /// <summary>Token ids of <paramref name="text"/>, without special tokens.</summary>
    int[] Encode(string text);

    /// <summary>The ids a completion continues: the prompt as the model was trained to see it (BOS, chat template, separator).</summary>
    int[] EncodePrompt(string promptText);

    /// <summary>
    /// The ids a task's prompt continues. A prompt given as chat turns (the <see cref="PromptFields.Messages"/> tag) goes through
    /// the policy's chat template as those turns when the tokenizer has one; otherwise the prompt's text (for chat turns, the
    /// task's plain rendering) goes through <see cref="EncodePrompt(string)"/>.
    /// </summary>
    int[] EncodePrompt(Prompt prompt) => EncodePrompt(prompt.Text);

    /// <summary>Text of <paramref name="ids"/>, special tokens skipped.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>Writes the files <see cref="Policy.PolicyFactory.LoadTokenizer"/> reads back into <paramref name="directory"/>.</summary>
    void Save(string directory);
}
