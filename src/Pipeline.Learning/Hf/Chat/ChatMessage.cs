namespace Pipeline.Learning.Hf.Chat;

/// <summary>One turn of a conversation, as HF chat templates see it: <c>message.role</c>, <c>message.content</c>.</summary>
public sealed record ChatMessage(string Role, string Content);
