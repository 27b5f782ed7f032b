using System.Collections.Immutable;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Rewards.Tests.Rubrics;

/// <summary>Prompts that carry their own rubric (the jsonl task's rubric field) are scored by it.</summary>
public sealed class PerPromptRubricSourceSpec : IDisposable
{
    private readonly RubricTestKit _kit = new();

    public void Dispose() => _kit.Dispose();

    private static Prompt WithRubric(string id, string? rubric) => new(id, "question?", null,
        rubric is null ? ImmutableDictionary<string, string>.Empty : ImmutableDictionary<string, string>.Empty.Add(PromptFields.Rubric, rubric));

    private const string WantsCat = """[{"id": "cat", "description": "says cat", "kind": "essential", "weight": 5, "check": {"type": "contains", "value": "cat"}}]""";
    private const string WantsDog = """{"name": "dogs", "criteria": [{"id": "dog", "description": "says dog", "kind": "essential", "weight": 5, "check": {"type": "contains", "value": "dog"}}]}""";

    private static RubricRewardSource Make(Rubric r) => new("rubric", r);

    [Fact]
    public async Task Each_prompt_is_scored_by_its_own_inline_rubric_or_rubric_file_and_the_rest_by_the_shared_one()
    {
        var file = _kit.Hocon("""id = bird, description = "says bird", kind = essential, weight = 5, check = { type = contains, value = bird }""");
        var shared = RubricRewardSource.Load("rubric", _kit.Hocon("""id = any, description = "says anything", kind = essential, weight = 5, check = { type = length, min-chars = 1 }"""), new());
        var prompts = new[] { WithRubric("a", WantsCat), WithRubric("b", WantsDog), WithRubric("c", file), WithRubric("d", null) };
        var source = new PerPromptRubricSource("rubric", prompts, shared, new RubricPredicateRegistry(), Make);
        Assert.Equal(3, source.RubricCount);

        async Task<double[]> Score(Prompt p) => (await source.ScoreAsync(RubricTestKit.Group(p, ("a cat", false), ("a dog", false), ("a bird", false)), default))
            .Select(s => s.Value).ToArray();
        Assert.Equal(new[] { 1.0, 0.0, 0.0 }, await Score(prompts[0]));
        Assert.Equal(new[] { 0.0, 1.0, 0.0 }, await Score(prompts[1]));
        Assert.Equal(new[] { 0.0, 0.0, 1.0 }, await Score(prompts[2]));
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, await Score(prompts[3]));
    }

    [Fact]
    public void A_prompt_without_a_rubric_and_no_shared_one_is_refused_at_start_naming_the_prompt()
    {
        var e = Assert.Throws<ConfigException>(() =>
            new PerPromptRubricSource("rubric", [WithRubric("a", WantsCat), WithRubric("b7", null)], null, new RubricPredicateRegistry(), Make));
        Assert.Contains("prompt 'b7' has no rubric", e.Message);
    }

    [Fact]
    public void A_principle_without_a_judge_is_refused_at_start()
    {
        const string principle = """[{"id": "kind", "description": "is kind", "kind": "essential", "weight": 5, "check": {"type": "principle", "text": "The answer is kind."}}]""";
        var e = Assert.Throws<ConfigException>(() =>
            new PerPromptRubricSource("rubric", [WithRubric("a", principle)], null, new RubricPredicateRegistry(), Make));
        Assert.Contains("need a judge", e.Message);
    }
}
