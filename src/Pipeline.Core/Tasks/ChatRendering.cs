namespace Pipeline.Core.Tasks;

/// <summary>One chat turn of a prompt given as messages: role (system, user, assistant) and text.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>
/// Turns a prompt's chat turns into the text the policy reads. The hook for a policy's own chat template: a tokenizer that
/// has one supplies a renderer; without one, <see cref="PlainChatRenderer"/> is used.
/// </summary>
public interface IChatRenderer
{
    string Render(IReadOnlyList<ChatTurn> turns);
}

/// <summary>
/// The documented plain format: one line per turn, "role: content" (the content's own newlines kept), then "assistant:" so
/// the completion is the assistant's reply. Example: [{system, "Be brief."}, {user, "2+2?"}] renders as
/// "system: Be brief.\nuser: 2+2?\nassistant:".
/// </summary>
public sealed class PlainChatRenderer : IChatRenderer
{
    public static readonly PlainChatRenderer Instance = new();

    public string Render(IReadOnlyList<ChatTurn> turns)
    {
        ArgumentNullException.ThrowIfNull(turns);
        return string.Join("\n", turns.Select(t => $"{t.Role}: {t.Content}").Append("assistant:"));
    }
}
