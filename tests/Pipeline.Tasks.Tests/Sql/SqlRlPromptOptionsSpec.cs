using System.Text.RegularExpressions;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

/// <summary>pipeline.task.sql.rl-values / rl-templates: other RL prompts, the same held-out questions, never a held-out value or template.</summary>
public sealed class SqlRlPromptOptionsSpec
{
    static readonly SqlTaskData Narrow = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 7 });
    static readonly SqlTaskData Wide = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 7, RlValues = SqlRlValues.Wide });
    static readonly SqlTaskData RlOnly = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 7, RlTemplates = SqlRlTemplates.RlOnly });

    [Fact]
    public void Held_out_and_demonstrations_must_be_the_same_questions_whatever_the_rl_options()
    {
        foreach (var other in new[] { Wide, RlOnly })
        {
            Assert.Equal(Narrow.HeldOut, other.HeldOut);
            Assert.Equal(Narrow.Sft, other.Sft);
            Assert.Equal(Narrow.Rl.Count, other.Rl.Count);
            Assert.NotEqual(Narrow.Rl.Select(e => e.Question), other.Rl.Select(e => e.Question));
        }
    }

    [Fact]
    public void Wide_rl_values_must_be_many_more_and_never_held_out_ones()
    {
        var heldOut = Values(Narrow.HeldOut);
        var narrow = Values(Narrow.Rl);
        var wide = Values(Wide.Rl);
        Assert.Empty(wide.Intersect(heldOut));
        Assert.True(wide.Count >= 2 * narrow.Count, $"wide RL prompts use {wide.Count} distinct values, narrow ones {narrow.Count}");
    }

    [Fact]
    public void Rl_only_templates_must_be_ones_no_demonstration_and_no_held_out_question_uses()
    {
        var sft = Narrow.Sft.Select(e => e.TemplateId).ToHashSet();
        var heldOut = Narrow.HeldOut.Select(e => e.TemplateId).ToHashSet();
        var rl = RlOnly.Rl.Select(e => e.TemplateId).ToHashSet();
        Assert.Empty(rl.Intersect(sft));
        Assert.Empty(rl.Intersect(heldOut));
        Assert.Equal(Narrow.Rl.Select(e => e.Language).Distinct().Order(), RlOnly.Rl.Select(e => e.Language).Distinct().Order());
    }

    [Fact]
    public void Every_wide_rl_gold_query_must_name_a_value_its_question_contains()
    {
        Assert.All(Wide.Rl, e => Assert.All(Literals(e.GoldSql), v => Assert.Contains(v, e.Question)));
    }

    static HashSet<string> Values(IEnumerable<SqlExample> examples) => examples.SelectMany(e => Literals(e.GoldSql)).ToHashSet();

    /// <summary>Quoted text values and the threshold after '&gt;'.</summary>
    static IEnumerable<string> Literals(string sql)
        => Regex.Matches(sql, @"'([^']*)'|> (\d+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value);
}
