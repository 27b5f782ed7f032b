namespace Pipeline.Tasks.Sql;

/// <summary>Turns a policy completion into the SQL to run: trims whitespace and a surrounding Markdown code fence.</summary>
public static class SqlCompletion
{
    public static string Extract(string completion)
    {
        var text = (completion ?? "").Trim();
        if (text.StartsWith("```", StringComparison.Ordinal))
        {
            var firstLineEnd = text.IndexOf('\n');
            text = firstLineEnd < 0 ? "" : text[(firstLineEnd + 1)..];
            var fenceEnd = text.LastIndexOf("```", StringComparison.Ordinal);
            if (fenceEnd >= 0) text = text[..fenceEnd];
        }
        return text.Trim();
    }
}
