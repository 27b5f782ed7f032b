using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Hf.Chat;

/// <summary>A conversation rendered through a chat template and encoded, ready to prefill a generator.</summary>
public static class ChatPrompt
{
    /// <summary>
    /// Token ids of the rendered conversation. BOS is added only where the tokenizer has a bos_token and the rendering
    /// does not already start with it (the tokenizer matches special tokens written in the text); a tokenizer without
    /// one (Qwen) gets none, as transformers' apply_chat_template.
    /// </summary>
    public static List<int> Encode(ChatTemplate template, HfTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true,
        IReadOnlyDictionary<string, object?>? extra = null, int? bosId = null)
    {
        var rendered = template.Render(messages, addGenerationPrompt, extra);
        if (template.BosToken is not { Length: > 0 } bosToken || rendered.StartsWith(bosToken, StringComparison.Ordinal))
            return tokenizer.Encode(rendered);
        var bos = bosId ?? tokenizer.IdOf(bosToken) ?? throw new ConfigException($"the chat template's bos_token '{bosToken}' is not in the tokenizer's vocabulary");
        return [bos, .. tokenizer.Encode(rendered)];
    }
}
