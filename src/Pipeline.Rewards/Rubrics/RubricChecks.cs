using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;

namespace Pipeline.Rewards.Rubrics;

/// <summary>How a criterion is checked: a hard rule evaluated locally (<see cref="HardRuleCheck"/>) or a principle a judge answers (<see cref="PrincipleCheck"/>).</summary>
public abstract class RubricCheck
{
    private protected RubricCheck() { }

    /// <summary>The <c>check.type</c> this check was declared with (regex, contains, ..., principle).</summary>
    public abstract string Type { get; }
}

/// <summary>A rule the rubric source checks itself, synchronously. Exceptions propagate (the source marks the rollout invalid).</summary>
public abstract class HardRuleCheck : RubricCheck
{
    private protected HardRuleCheck() { }

    /// <summary>True when the criterion holds (for a pitfall: when the pitfall happened).</summary>
    public abstract bool IsMet(RubricInput input);
}

/// <summary>A criterion only a judge can decide; <see cref="Text"/> is the wording the judge sees.</summary>
public sealed class PrincipleCheck : RubricCheck
{
    public PrincipleCheck(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        Text = text;
    }

    public string Text { get; }
    public override string Type => "principle";
}

/// <summary>
/// <c>type = regex</c>: the completion matches <see cref="Pattern"/> (or, with <c>must-not-match</c>, does not).
/// Matching stops after <see cref="MatchTimeout"/>; a timeout throws, which makes the rollout's signal invalid.
/// </summary>
public sealed class RegexCheck : HardRuleCheck
{
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    /// <exception cref="ArgumentException">The pattern does not compile.</exception>
    public RegexCheck(string pattern, RegexOptions options = RegexOptions.None, bool mustMatch = true)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        Regex = new Regex(pattern, options | RegexOptions.CultureInvariant, MatchTimeout);
        MustMatch = mustMatch;
    }

    public Regex Regex { get; }
    public string Pattern => Regex.ToString();
    public bool MustMatch { get; }
    public override string Type => "regex";

    public override bool IsMet(RubricInput input) => Regex.IsMatch(input.Completion) == MustMatch;
}

/// <summary>
/// <c>type = contains</c>: every one of <see cref="Values"/> occurs in the completion;
/// <c>type = excludes</c> (<see cref="Exclude"/>): none of them occurs.
/// </summary>
public sealed class ContainsCheck : HardRuleCheck
{
    public ContainsCheck(IReadOnlyList<string> values, bool ignoreCase = false, bool exclude = false)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0 || values.Any(string.IsNullOrEmpty))
            throw new ArgumentException("values must be a non-empty list of non-empty strings", nameof(values));
        Values = values.ToArray();
        IgnoreCase = ignoreCase;
        Exclude = exclude;
    }

    public IReadOnlyList<string> Values { get; }
    public bool IgnoreCase { get; }
    public bool Exclude { get; }
    public override string Type => Exclude ? "excludes" : "contains";

    public override bool IsMet(RubricInput input)
    {
        var comparison = IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return Exclude
            ? !Values.Any(v => input.Completion.Contains(v, comparison))
            : Values.All(v => input.Completion.Contains(v, comparison));
    }
}

/// <summary>
/// <c>type = length</c>: the completion, trimmed of leading and trailing white space, has between the given numbers of
/// characters and of tokens (runs of non-white-space). Bounds are inclusive; a missing bound is not checked.
/// </summary>
public sealed class LengthCheck : HardRuleCheck
{
    public LengthCheck(int? minChars = null, int? maxChars = null, int? minTokens = null, int? maxTokens = null)
    {
        if (minChars is null && maxChars is null && minTokens is null && maxTokens is null)
            throw new ArgumentException("a length check needs at least one of min-chars, max-chars, min-tokens, max-tokens");
        foreach (var bound in new[] { minChars, maxChars, minTokens, maxTokens })
            if (bound < 0) throw new ArgumentException($"length bounds must not be negative (got {bound})");
        if (minChars > maxChars) throw new ArgumentException($"min-chars {minChars} is greater than max-chars {maxChars}");
        if (minTokens > maxTokens) throw new ArgumentException($"min-tokens {minTokens} is greater than max-tokens {maxTokens}");
        (MinChars, MaxChars, MinTokens, MaxTokens) = (minChars, maxChars, minTokens, maxTokens);
    }

    public int? MinChars { get; }
    public int? MaxChars { get; }
    public int? MinTokens { get; }
    public int? MaxTokens { get; }
    public override string Type => "length";

    public override bool IsMet(RubricInput input)
    {
        var text = input.Completion.Trim();
        if (text.Length < MinChars || text.Length > MaxChars) return false;
        if (MinTokens is null && MaxTokens is null) return true;
        var tokens = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        return !(tokens < MinTokens || tokens > MaxTokens);
    }
}

/// <summary>
/// <c>type = json-schema</c>: the completion is JSON (as a whole, else the body of a ```json fence, else the text from the
/// first '{' or '[' to the last matching '}' or ']') and validates against <see cref="Schema"/>. No JSON found: not met.
/// </summary>
public sealed class JsonSchemaCheck : HardRuleCheck
{
    private static readonly JsonDocumentOptions Lenient = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    public JsonSchemaCheck(JsonSchema schema) => Schema = schema ?? throw new ArgumentNullException(nameof(schema));

    /// <summary>Builds the schema from JSON text in its own registry (so rubrics never clash over <c>$id</c>s).</summary>
    /// <exception cref="JsonException">The text is not JSON.</exception>
    /// <exception cref="JsonSchemaException">The JSON is not a valid schema.</exception>
    public static JsonSchemaCheck FromText(string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
        return new JsonSchemaCheck(JsonSchema.FromText(schemaJson, options));
    }

    public JsonSchema Schema { get; }
    public override string Type => "json-schema";

    public override bool IsMet(RubricInput input)
    {
        foreach (var candidate in Candidates(input.Completion))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(candidate, Lenient); }
            catch (JsonException) { continue; }
            using (doc)
                return Schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.Flag }).IsValid;
        }
        return false;
    }

    private static IEnumerable<string> Candidates(string completion)
    {
        var text = completion.Trim();
        if (text.Length == 0) yield break;
        yield return text;

        var fence = Regex.Match(text, @"```[A-Za-z0-9_-]*[ \t]*\r?\n(?<body>[\s\S]*?)```", RegexOptions.None, RegexCheck.MatchTimeout);
        if (fence.Success) yield return fence.Groups["body"].Value;

        foreach (var (open, close) in new[] { ('{', '}'), ('[', ']') })
        {
            var start = text.IndexOf(open);
            var end = text.LastIndexOf(close);
            if (start >= 0 && end > start) yield return text[start..(end + 1)];
        }
    }
}

/// <summary>
/// A named C# predicate from a <see cref="RubricPredicateRegistry"/>: <c>type = predicate, name = ...</c>,
/// or the shorthands <c>type = sql-parses</c> / <c>type = read-only</c> (then <see cref="Type"/> is the shorthand).
/// </summary>
public sealed class PredicateCheck : HardRuleCheck
{
    public PredicateCheck(string name, Func<RubricInput, bool> predicate, string type = "predicate")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Predicate = predicate ?? throw new ArgumentNullException(nameof(predicate));
        Type = type;
    }

    public string Name { get; }
    public Func<RubricInput, bool> Predicate { get; }
    public override string Type { get; }

    public override bool IsMet(RubricInput input) => Predicate(input);
}
