using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Json.Schema;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Rewards.Verifiable;

/// <summary>A verifier's answer for one completion: a score in [0, 1], or why it could not be computed (then invalid, masked).</summary>
public readonly record struct Verdict(double Value, string? Invalid, string? Details = null)
{
    public static Verdict Pass(string? details = null) => new(1, null, details);
    public static Verdict Fail(string? details = null) => new(0, null, details);
    public static Verdict Cannot(string reason) => new(double.NaN, reason);
}

/// <summary>
/// A fast, rule-based reward source for data with known answers: each completion is checked against the prompt's
/// reference(s) by one rule (exact, regex, numeric, contains, json-schema; see <see cref="VerifiableRewards"/>) and scores
/// 1 or 0. A prompt without what the rule needs (no reference, a reference that is not a number) gives an invalid signal
/// naming the prompt, never a 0.
/// </summary>
public sealed class VerifiableReward(string name, string type, Func<Prompt, string, Verdict> verify) : IRewardSource
{
    public string Name { get; } = name;
    public string Type { get; } = type;
    public RewardSourceKind Kind => RewardSourceKind.Fast;
    public (double Min, double Max) Range => (0, 1);

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        var signals = new RewardSignal[group.Rollouts.Length];
        for (var i = 0; i < signals.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            Verdict verdict;
            try
            {
                verdict = verify(group.Prompt, group.Rollouts[i].CompletionText);
            }
            catch (Exception e) when (e is RegexMatchTimeoutException or JsonException or FormatException or ArgumentException)
            {
                verdict = Verdict.Cannot($"{Type}: {e.GetType().Name}: {e.Message}");
            }
            signals[i] = verdict.Invalid is { } why
                ? RewardSignal.Invalid(Name, $"prompt {group.Prompt.Id}: {why}", Stopwatch.GetElapsedTime(started))
                : RewardSignal.Ok(Name, verdict.Value, Stopwatch.GetElapsedTime(started), verdict.Details);
        }
        return Task.FromResult<IReadOnlyList<RewardSignal>>(signals);
    }
}

/// <summary>
/// The verifiable reward types and their settings blocks (pipeline.rewards.&lt;type&gt;):
/// <list type="bullet">
/// <item><c>exact</c>: the normalised completion equals a normalised reference (<see cref="AnswerMatching.Normalize"/>); case-sensitive.</item>
/// <item><c>regex</c>: the completion matches <c>pattern</c>, or each reference as a pattern when <c>pattern = ""</c>; full-match, ignore-case.</item>
/// <item><c>numeric</c>: the completion's final number (or \boxed{} answer) is within abs-tolerance or rel-tolerance of the reference.</item>
/// <item><c>contains</c>: the completion contains every reference (<c>mode = all</c>) or one (<c>any</c>); ignore-case.</item>
/// <item><c>json-schema</c>: the completion's JSON validates against the schema in <c>file</c>, or the reference as a schema when <c>file = ""</c>.</item>
/// </list>
/// </summary>
public static class VerifiableRewards
{
    public static readonly IReadOnlyList<string> Types = ["exact", "regex", "numeric", "contains", "json-schema"];

    /// <summary>Builds the source for <paramref name="context"/>'s type; every setting is read (and checked) here.</summary>
    public static VerifiableReward Create(RewardSourceContext context, Func<string, string>? originOf = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new VerifiableReward(context.Name, context.Type, Verifier(context.Type, context.Settings, originOf));
    }

    /// <summary>The rule of one type with its settings (pipeline.rewards.&lt;type&gt;); a bad value is a <see cref="ConfigException"/> naming the key.</summary>
    public static Func<Prompt, string, Verdict> Verifier(string type, Config? settings, Func<string, string>? originOf = null)
    {
        var block = new ConfigBlock(settings, "pipeline.rewards." + type, originOf);
        switch (type)
        {
            case "exact":
            {
                var caseSensitive = block.Bool("case-sensitive", false);
                return (prompt, completion) => WithReferences(prompt, refs =>
                {
                    var c = AnswerMatching.Normalize(completion, caseSensitive);
                    return refs.Any(r => AnswerMatching.Normalize(r, caseSensitive) == c) ? Verdict.Pass() : Verdict.Fail();
                });
            }
            case "regex":
            {
                var options = RegexOptions.CultureInvariant | (block.Bool("ignore-case", false) ? RegexOptions.IgnoreCase : RegexOptions.None);
                var full = block.Bool("full-match", false);
                var pattern = block.Str("pattern", "");
                string Anchor(string p) => full ? $@"\A(?:{p})\z" : p;
                if (pattern.Length > 0)
                {
                    var fixedRegex = block.Parse("pattern", (Regex?)null, p => new Regex(Anchor(p), options, RegexCheck.MatchTimeout))!;
                    return (_, completion) => fixedRegex.IsMatch(completion.Trim()) ? Verdict.Pass() : Verdict.Fail();
                }
                var cache = new ConcurrentDictionary<string, Regex>(StringComparer.Ordinal);
                return (prompt, completion) => WithReferences(prompt, refs =>
                    refs.Any(r => cache.GetOrAdd(r, p => new Regex(Anchor(p), options, RegexCheck.MatchTimeout)).IsMatch(completion.Trim()))
                        ? Verdict.Pass() : Verdict.Fail());
            }
            case "numeric":
            {
                var absolute = block.Double("abs-tolerance", 1e-6);
                var relative = block.Double("rel-tolerance", 0);
                if (absolute < 0 || !double.IsFinite(absolute)) throw block.Error("abs-tolerance", absolute, "must be a finite number >= 0");
                if (relative < 0 || !double.IsFinite(relative)) throw block.Error("rel-tolerance", relative, "must be a finite number >= 0");
                return (prompt, completion) => WithReferences(prompt, refs =>
                {
                    var expected = refs.Select(AnswerMatching.ParseReference).ToList();
                    if (expected.All(e => e is null))
                        return Verdict.Cannot($"numeric: the reference '{Clip(refs[0])}' is not a number");
                    if (AnswerMatching.FinalNumber(completion) is not { } got) return Verdict.Fail("no number in the completion");
                    return expected.Any(e => e is { } x && AnswerMatching.Close(got, x, absolute, relative))
                        ? Verdict.Pass($"answer {got}") : Verdict.Fail($"answer {got}");
                });
            }
            case "contains":
            {
                var any = block.Parse("mode", false, s => s switch
                {
                    "all" => false,
                    "any" => true,
                    _ => throw new FormatException("expected all | any"),
                });
                var comparison = block.Bool("ignore-case", true) ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                return (prompt, completion) => WithReferences(prompt, refs =>
                {
                    bool Has(string r) => completion.Contains(r.Trim(), comparison);
                    return (any ? refs.Any(Has) : refs.All(Has)) ? Verdict.Pass() : Verdict.Fail();
                });
            }
            case "json-schema":
            {
                var file = block.Str("file", "");
                if (file.Length > 0)
                {
                    if (!File.Exists(file)) throw block.Error("file", file, $"no such file (looked for {Path.GetFullPath(file)})");
                    var check = block.Parse("file", (JsonSchemaCheck?)null, f => Schema(File.ReadAllText(f)))!;
                    return (prompt, completion) => Judge(check, prompt, completion);
                }
                var cache = new ConcurrentDictionary<string, JsonSchemaCheck>(StringComparer.Ordinal);
                return (prompt, completion) => WithReferences(prompt, refs => Judge(cache.GetOrAdd(refs[0], Schema), prompt, completion));
            }
            default:
                throw new ConfigException($"'{type}' is not a verifiable reward type (known: {string.Join(", ", Types)})");
        }
    }

    private static Verdict Judge(JsonSchemaCheck check, Prompt prompt, string completion)
        => check.IsMet(new RubricInput(prompt, completion, false)) ? Verdict.Pass() : Verdict.Fail();

    private static JsonSchemaCheck Schema(string text)
    {
        try
        {
            return JsonSchemaCheck.FromText(text);
        }
        catch (Exception e) when (e is JsonException or JsonSchemaException or RefResolutionException)
        {
            throw new FormatException($"not a JSON schema: {e.Message}");
        }
    }

    private static Verdict WithReferences(Prompt prompt, Func<IReadOnlyList<string>, Verdict> judge)
    {
        var refs = PromptFields.ReferencesOf(prompt);
        return refs.Count == 0 ? Verdict.Cannot("the prompt has no reference") : judge(refs);
    }

    private static string Clip(string s) => s.Length <= 60 ? s : s[..60] + "...";
}
