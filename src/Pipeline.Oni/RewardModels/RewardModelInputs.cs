namespace Pipeline.Oni.RewardModels;

/// <summary>Forms the text a reward model reads for one completion of one prompt (labels and scoring alike).</summary>
public static class RewardModelInputs
{
    /// <summary>Joins prompt and completion (ASCII record separator: absent from prompts and completions of text tasks).</summary>
    public const char Separator = '\u001E';

    public static string Text(RewardModelInput input, string prompt, string completion) => input switch
    {
        RewardModelInput.Completion => completion,
        RewardModelInput.PromptCompletion => string.Concat(prompt, Separator.ToString(), completion),
        _ => throw new ArgumentOutOfRangeException(nameof(input), input, "unknown reward-model input"),
    };

    /// <summary>The (prompt, completion) of a text made by <see cref="Text"/>; a text without the separator is all completion.</summary>
    public static (string Prompt, string Completion) Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var at = text.IndexOf(Separator);
        return at < 0 ? ("", text) : (text[..at], text[(at + 1)..]);
    }
}
