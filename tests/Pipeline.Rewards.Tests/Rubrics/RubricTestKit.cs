using System.Collections.Concurrent;
using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Rewards.Tests.Rubrics;

/// <summary>A stand-in for the LLM critic: answers from a function and records every call.</summary>
public sealed class FakeCriterionJudge(Func<string, JudgeCriterion, bool?> answer) : ICriterionJudge
{
    public sealed record Call(string Prompt, string Completion, IReadOnlyList<JudgeCriterion> Criteria, CriterionBatching Batching);

    public ConcurrentQueue<Call> Calls { get; } = new();

    /// <summary>Requests a real critic would send: one per call in all-in-one mode, one per criterion otherwise.</summary>
    public int Requests => Calls.Sum(c => c.Batching == CriterionBatching.AllInOne ? 1 : c.Criteria.Count);

    public static FakeCriterionJudge Always(bool? verdict) => new((_, _) => verdict);

    public Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string completion, IReadOnlyList<JudgeCriterion> criteria,
        CriterionBatching batching, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Calls.Enqueue(new Call(prompt, completion, criteria.ToArray(), batching));
        return Task.FromResult<IReadOnlyList<bool?>>(criteria.Select(c => answer(completion, c)).ToArray());
    }
}

/// <summary>Temporary rubric files (deleted on dispose) and rollout groups.</summary>
public sealed class RubricTestKit : IDisposable
{
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "pipeline-rubric-tests-" + Guid.NewGuid().ToString("N"));

    public RubricTestKit() => System.IO.Directory.CreateDirectory(Directory);

    public string Write(string fileName, string text)
    {
        var path = Path.Combine(Directory, fileName);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A HOCON rubric file with the given criteria (each the body of one { ... }).</summary>
    public string Hocon(params string[] criteria) => Write(Guid.NewGuid().ToString("N") + ".conf", HoconText(criteria));

    public static string HoconText(IEnumerable<string> criteria, string extra = "")
        => $"rubric {{\n  name = test\n  {extra}\n  criteria = [\n{string.Join("\n", criteria.Select(c => "    { " + c + " }"))}\n  ]\n}}\n";

    public static Prompt Prompt(string text = "question?") => new("p1", text, null, ImmutableDictionary<string, string>.Empty);

    public static RolloutGroup Group(params string[] completions) => Group(Prompt(), completions.Select(c => (c, false)).ToArray());

    public static RolloutGroup Group(Prompt prompt, params (string Text, bool Truncated)[] completions) => new(
        "g1", prompt, 0,
        completions.Select((c, i) => new Rollout($"r{i}", "g1", prompt.Id, 0, [], [], [], c.Text, c.Truncated)).ToImmutableArray(),
        TimeSpan.Zero);

    public static RubricInput Input(string completion, bool truncated = false) => new(Prompt(), completion, truncated);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}
