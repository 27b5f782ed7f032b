using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pipeline.Rewards.Critic.Simulated;

/// <summary>What the simulated judge made of one request.</summary>
/// <param name="Content">The assistant message: a line saying it is simulated, then the JSON answer (or a refusal).</param>
/// <param name="Template">pointwise, criteria, pairwise, or null when the request holds no sections the judge recognises.</param>
/// <param name="Known">False when the oracle had no ground truth (the content is then a refusal).</param>
public sealed record SimulatedAnswer(string Content, string? Template, bool Known);

/// <summary>
/// The simulated judge's logic, without HTTP: parses the delimited sections of a <see cref="JudgeTemplates"/> prompt back out
/// (by the request's own nonce, undoing the neutralisation), asks the oracle, adds Gaussian noise, and answers in exactly the
/// structured form the template asked for (pointwise score on the declared scale, with spans if asked; criteria; pairwise winner).
/// Thread-safe.
/// </summary>
public sealed class SimulatedJudge
{
    private static readonly Regex FirstTag = new(@"<(?:question|reference|candidate|criteria|response-a|response-b)-([0-9a-f]{6,64})>", RegexOptions.Compiled);
    private static readonly Regex ScoreScale = new(@"""score"": <number between (-?[0-9]+(?:\.[0-9]+)?) and (-?[0-9]+(?:\.[0-9]+)?)>", RegexOptions.Compiled);
    private static readonly Regex CriterionSlot = new(@"(""(?:[^""\\]|\\.)*""): <true\|false>", RegexOptions.Compiled);
    private static readonly Regex Word = new(@"\S+", RegexOptions.Compiled);
    private static readonly Regex Injection = new(@"ignore\s+(?:all\s+)?(?:previous|prior|above)\s+instructions", RegexOptions.Compiled | RegexOptions.IgnoreCase);

    private readonly ISimulatedOracle _oracle;
    private readonly double _noise;
    private readonly Random _random;
    private readonly Lock _lock = new();

    public SimulatedJudge(ISimulatedOracle oracle, double noise = 0, int seed = 1, SimulatedHostility hostile = SimulatedHostility.None)
    {
        _oracle = oracle ?? throw new ArgumentNullException(nameof(oracle));
        _noise = noise;
        _random = new Random(seed);
        Hostile = hostile;
    }

    public ISimulatedOracle Oracle => _oracle;

    public SimulatedHostility Hostile { get; }

    /// <summary>The command-line name of a hostile mode: always-max, obey-injection (none for honest).</summary>
    public static string Key(SimulatedHostility hostile) => hostile switch
    {
        SimulatedHostility.AlwaysMax => "always-max",
        SimulatedHostility.ObeyInjection => "obey-injection",
        _ => "none",
    };

    /// <summary>The ground truth as this (possibly hostile) judge sees it: 1 for every candidate (always-max) or an injecting one (obey-injection).</summary>
    private double? Truth(string question, string? reference, string candidate) => Hostile switch
    {
        SimulatedHostility.AlwaysMax => 1.0,
        SimulatedHostility.ObeyInjection when Injection.IsMatch(candidate) => 1.0,
        _ => _oracle.Score(question, reference, candidate),
    };

    /// <summary>Hostile answers are exact (no noise), so a test sees the hostility and nothing else.</summary>
    private double Judged(double truth) => Hostile == SimulatedHostility.None ? Noisy(truth) : truth;

    /// <summary>A uniform draw in [0, 1) from the judge's seeded generator (shared with the server's latency and error draws).</summary>
    public double NextDouble()
    {
        lock (_lock) return _random.NextDouble();
    }

    /// <summary>A standard normal draw (Box-Muller).</summary>
    public double NextGaussian()
    {
        lock (_lock)
        {
            var u1 = 1.0 - _random.NextDouble();
            var u2 = _random.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }
    }

    /// <summary>The sections of a templated prompt, by name (question, reference, candidate, criteria, response-a, response-b), restored.</summary>
    public static IReadOnlyDictionary<string, string> Sections(string user)
    {
        var sections = new Dictionary<string, string>(StringComparer.Ordinal);
        var first = FirstTag.Match(user ?? "");
        if (!first.Success) return sections;
        var nonce = first.Groups[1].Value;
        foreach (var name in JudgeTemplates.SectionNames)
        {
            var open = $"<{name}-{nonce}>\n";
            var close = $"\n</{name}-{nonce}>";
            var start = user!.IndexOf(open, StringComparison.Ordinal);
            if (start < 0) continue;
            start += open.Length;
            var end = user.IndexOf(close, start, StringComparison.Ordinal);
            if (end < 0) continue;
            sections[name] = JudgeTemplates.Restore(user[start..end]);
        }
        return sections;
    }

    public SimulatedAnswer Answer(string user)
    {
        var s = Sections(user);
        if (!s.TryGetValue("question", out var question)) return new SimulatedAnswer(Unrecognised, null, false);
        s.TryGetValue("reference", out var reference);
        if (s.TryGetValue("response-a", out var a) && s.TryGetValue("response-b", out var b)) return Pairwise(question, reference, a, b);
        if (!s.TryGetValue("candidate", out var candidate)) return new SimulatedAnswer(Unrecognised, null, false);
        return s.ContainsKey("criteria") ? Criteria(question, reference, candidate, user) : Pointwise(question, reference, candidate, user);
    }

    private const string Unrecognised =
        "Simulated judge (critic-sim): I can't judge this: the request has none of the delimited sections the critic templates use.";

    private string Mode => Hostile == SimulatedHostility.None ? "" : $", HOSTILE {Key(Hostile)}";

    private string Preamble(double truth) => Hostile != SimulatedHostility.None
        ? $"Simulated judge (critic-sim, oracle {_oracle.Name}{Mode}): score {truth.ToString("0.###", CultureInfo.InvariantCulture)} given on purpose, not the ground truth.\n"
        : $"Simulated judge (critic-sim, oracle {_oracle.Name}): ground-truth score {truth.ToString("0.###", CultureInfo.InvariantCulture)}, " +
          $"noise sd {_noise.ToString("0.###", CultureInfo.InvariantCulture)}.\n";

    private SimulatedAnswer Declined(string template) => new(
        $"Simulated judge (critic-sim, oracle {_oracle.Name}): I can't judge this answer: the oracle has no ground truth for this question.",
        template, false);

    private double Noisy(double truth) => _noise > 0 ? Math.Clamp(truth + _noise * NextGaussian(), 0, 1) : truth;

    private SimulatedAnswer Pointwise(string question, string? reference, string candidate, string user)
    {
        var truth = Truth(question, reference, candidate);
        if (truth is null) return Declined("pointwise");
        var (min, max) = (0.0, 10.0);
        var m = ScoreScale.Match(user);
        if (m.Success)
        {
            min = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            max = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        }
        var raw = min + Judged(truth.Value) * (max - min);
        if (min == Math.Floor(min) && max == Math.Floor(max)) raw = Math.Round(raw, MidpointRounding.AwayFromZero);
        var dense = user.Contains("\"spans\": [", StringComparison.Ordinal);

        var json = new StringBuilder();
        json.Append("{\"score\": ").Append(raw.ToString("0.###", CultureInfo.InvariantCulture));
        if (dense)
        {
            json.Append(", \"spans\": [");
            json.Append(string.Join(", ", Spans(reference, candidate, truth.Value)
                .Select(sp => $"{{\"text\": {JsonSerializer.Serialize(sp.Text)}, \"reward\": {sp.Reward.ToString(CultureInfo.InvariantCulture)}}}")));
            json.Append(']');
        }
        json.Append('}');
        return new SimulatedAnswer(Preamble(truth.Value) + json, "pointwise", true);
    }

    /// <summary>Correct: the whole (trimmed) candidate, reward 1. Otherwise the candidate's words absent from the reference, reward -1 (at most 8).</summary>
    private static IEnumerable<(string Text, int Reward)> Spans(string? reference, string candidate, double truth)
    {
        var trimmed = candidate.Trim();
        if (trimmed.Length == 0) yield break;
        if (truth >= 0.999)
        {
            yield return (trimmed, 1);
            yield break;
        }
        if (reference is null) yield break;
        var known = new HashSet<string>(Word.Matches(reference).Select(w => w.Value), StringComparer.OrdinalIgnoreCase);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var count = 0;
        foreach (Match w in Word.Matches(candidate))
        {
            if (known.Contains(w.Value) || !seen.Add(w.Value)) continue;
            yield return (w.Value, -1);
            if (++count == 8) yield break;
        }
    }

    private SimulatedAnswer Criteria(string question, string? reference, string candidate, string user)
    {
        var truth = Truth(question, reference, candidate);
        if (truth is null) return Declined("criteria");
        // The ids are in the requested answer form, the last line of the prompt: {"criteria": {"c1": <true|false>, ...}}
        var form = user[(user.LastIndexOf("{\"criteria\": {", StringComparison.Ordinal) is var at and >= 0 ? at : 0)..];
        var ids = CriterionSlot.Matches(form).Select(m => m.Groups[1].Value).ToList();
        var answer = string.Join(", ", ids.Select(id => $"{id}: {(Judged(truth.Value) >= 0.5 ? "true" : "false")}"));
        return new SimulatedAnswer(Preamble(truth.Value) + "{\"criteria\": {" + answer + "}}", "criteria", true);
    }

    private SimulatedAnswer Pairwise(string question, string? reference, string a, string b)
    {
        var ta = Truth(question, reference, a);
        var tb = Truth(question, reference, b);
        if (ta is null || tb is null) return Declined("pairwise");
        var d = Judged(ta.Value) - Judged(tb.Value);
        var winner = Math.Abs(d) < 0.05 ? "tie" : d > 0 ? "A" : "B";
        var preamble = $"Simulated judge (critic-sim, oracle {_oracle.Name}{Mode}): {(Hostile == SimulatedHostility.None ? "ground-truth" : "hostile")} scores A {ta.Value.ToString("0.###", CultureInfo.InvariantCulture)}, " +
                       $"B {tb.Value.ToString("0.###", CultureInfo.InvariantCulture)}, noise sd {_noise.ToString("0.###", CultureInfo.InvariantCulture)}.\n";
        return new SimulatedAnswer(preamble + $"{{\"winner\": \"{winner}\"}}", "pairwise", true);
    }
}
