namespace Pipeline.Learning.Hf.Chat;

/// <summary>
/// A chat template that cannot be parsed or rendered: an unsupported construct, a type error, or the template's own
/// <c>raise_exception(...)</c>. The message names the template (its file) and the line.
/// </summary>
public sealed class ChatTemplateException(string template, int line, string problem)
    : Exception($"{template}, line {line}: {problem}")
{
    public string Template { get; } = template;
    public int Line { get; } = line;
    public string Problem { get; } = problem;
}

/// <summary>Thrown inside the evaluator without a position; the node being evaluated adds template and line.</summary>
internal sealed class JinjaError(string problem) : Exception(problem);
