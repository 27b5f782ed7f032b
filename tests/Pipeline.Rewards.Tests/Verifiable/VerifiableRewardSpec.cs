using System.Collections.Immutable;
using System.Text.Json;
using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Verifiable;
using Xunit;

namespace Pipeline.Rewards.Tests.Verifiable;

public sealed class VerifiableRewardSpec
{
    private static Prompt Prompt(string? reference, params string[] more)
    {
        var tags = ImmutableDictionary<string, string>.Empty;
        if (more.Length > 0) tags = tags.Add(PromptFields.References, JsonSerializer.Serialize(new[] { reference! }.Concat(more)));
        return new Prompt("p1", "question", reference, tags);
    }

    private static async Task<IReadOnlyList<RewardSignal>> Score(string type, string settings, Prompt prompt, params string[] completions)
    {
        var source = VerifiableRewards.Create(new RewardSourceContext(type, type, ConfigurationFactory.ParseString(settings), null!, _ => { }));
        var group = new RolloutGroup("g", prompt, 0,
            completions.Select((c, i) => new Rollout($"r{i}", "g", prompt.Id, 0, [], [], [], c, false)).ToImmutableArray(), TimeSpan.Zero);
        return await source.ScoreAsync(group, CancellationToken.None);
    }

    private static double[] Values(IEnumerable<RewardSignal> signals) => signals.Select(s => s.Value).ToArray();

    [Fact]
    public async Task Exact_compares_normalised_text_against_every_reference()
    {
        var signals = await Score("exact", "", Prompt("Paris", "paris, france"), "  paris. ", "Paris,  France", "Lyon");
        Assert.All(signals, s => Assert.True(s.Valid));
        Assert.Equal(new double[] { 1.0, 1.0, 0.0 }, Values(signals));
        Assert.Equal(new double[] { 0.0 }, Values(await Score("exact", "case-sensitive = on", Prompt("Paris"), "paris")));
    }

    [Fact]
    public async Task Numeric_reads_the_final_number_or_the_boxed_answer_within_tolerance()
    {
        var signals = await Score("numeric", "abs-tolerance = 0.01", Prompt("1234"),
            "First 12, then 1,234", @"so \boxed{1234} is it, not 7", "1234.005", "1235", "no idea");
        Assert.All(signals, s => Assert.True(s.Valid));
        Assert.Equal(new double[] { 1.0, 1.0, 1.0, 0.0, 0.0 }, Values(signals));
        Assert.Equal(new double[] { 1.0, 0.0 }, Values(await Score("numeric", "rel-tolerance = 0.01", Prompt("200"), "201", "203")));
        Assert.Equal(new double[] { 1.0 }, Values(await Score("numeric", "", Prompt("0.75"), @"\boxed{3/4}")));
    }

    [Fact]
    public async Task A_prompt_without_a_usable_reference_gives_invalid_signals_naming_it_never_zero()
    {
        var none = await Score("exact", "", Prompt(null), "anything");
        Assert.False(none[0].Valid);
        Assert.True(double.IsNaN(none[0].Value));
        Assert.Contains("prompt p1", none[0].Details);
        Assert.Contains("no reference", none[0].Details);

        var notNumber = await Score("numeric", "", Prompt("forty-two"), "42");
        Assert.False(notNumber[0].Valid);
        Assert.Contains("not a number", notNumber[0].Details);
    }

    [Fact]
    public async Task Regex_uses_the_configured_pattern_or_else_the_reference_as_the_pattern()
    {
        Assert.Equal(new double[] { 1.0, 0.0 }, Values(await Score("regex", "pattern = \"^[0-9]+$\"", Prompt(null), "42", "forty-two")));
        Assert.Equal(new double[] { 1.0, 0.0 }, Values(await Score("regex", "full-match = on", Prompt("a+b"), "aaab", "aaab!")));
    }

    [Fact]
    public async Task Contains_needs_all_references_or_any_by_mode()
    {
        Assert.Equal(new double[] { 1.0, 0.0 }, Values(await Score("contains", "", Prompt("red", "BLUE"), "Red and blue", "red only")));
        Assert.Equal(new double[] { 1.0, 1.0 }, Values(await Score("contains", "mode = any", Prompt("red", "blue"), "red and blue", "red only")));
    }

    [Fact]
    public async Task Json_schema_validates_the_completion_against_the_reference_schema()
    {
        const string schema = """{"type":"object","required":["answer"],"properties":{"answer":{"type":"integer"}}}""";
        Assert.Equal(new double[] { 1.0, 0.0, 0.0 }, Values(await Score("json-schema", "", Prompt(schema),
            "```json\n{\"answer\": 4}\n```", "{\"answer\": \"four\"}", "no json")));
        var bad = await Score("json-schema", "", Prompt("{not a schema"), "{}");
        Assert.False(bad[0].Valid);
    }

    [Fact]
    public void A_bad_setting_is_refused_naming_its_key()
    {
        var e = Assert.Throws<ConfigException>(() => VerifiableRewards.Verifier("numeric", ConfigurationFactory.ParseString("abs-tolerance = -1")));
        Assert.Contains("pipeline.rewards.numeric.abs-tolerance", e.Message);
        var m = Assert.Throws<ConfigException>(() => VerifiableRewards.Verifier("contains", ConfigurationFactory.ParseString("mode = some")));
        Assert.Contains("pipeline.rewards.contains.mode", m.Message);
    }

    [Theory]
    [InlineData("The answer is 42.", 42.0)]
    [InlineData("-3.5 degrees", -3.5)]
    [InlineData("1,000,000 people and 2 cats", 2.0)]
    [InlineData(@"\boxed{\frac{1}{2}} or \boxed{0.5}", 0.5)]
    public void FinalNumber_reads_the_last_number(string text, double expected)
        => Assert.Equal(expected, AnswerMatching.FinalNumber(text));
}
