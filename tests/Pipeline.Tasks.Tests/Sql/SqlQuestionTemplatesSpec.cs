using System.Collections;
using System.Reflection;
using System.Text.RegularExpressions;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

/// <summary>
/// The paraphrase templates (an internal table, read by reflection): 8 per (family, language), the last 2 held out,
/// each carrying the placeholders its family's SQL depends on, and short enough whatever the lexicon and values.
/// </summary>
[Collection(SqlTaskCollection.Name)]
public sealed class SqlQuestionTemplatesSpec(SqlTaskFixture fixture)
{
    const int PerList = 8, HeldOutPerList = 2;
    static readonly string[] Languages = ["en", "es", "de", "ru"];
    static readonly Type Templates = typeof(SqlDatasetGenerator).Assembly.GetType("Pipeline.Tasks.Sql.SqlQuestionTemplates", throwOnError: true)!;
    static readonly Type Profile = typeof(SqlDatasetGenerator).Assembly.GetType("Pipeline.Tasks.Sql.SqlTableProfile", throwOnError: true)!;

    static T Static<T>(Type type, string name)
        => (T)(type.GetField(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null)
               ?? type.GetProperty(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!);

    static IReadOnlyDictionary<string, IReadOnlyDictionary<string, string[]>> Families
        => Static<IReadOnlyDictionary<string, IReadOnlyDictionary<string, string[]>>>(Templates, "Families");

    static string Fill(string template, IReadOnlyDictionary<string, string> values)
        => (string)Templates.GetMethod("Fill", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!
            .Invoke(null, [template, values, true])!;

    [Fact]
    public void Every_list_must_hold_eight_distinct_templates_and_hold_out_the_last_two()
    {
        Assert.Equal(PerList, Static<int>(Templates, "PerList"));
        Assert.Equal(HeldOutPerList, Static<int>(Templates, "HeldOutPerList"));
        Assert.Equal(["agg", "count", "group", "join", "list", "order"], Families.Keys.Order());
        foreach (var (family, lists) in Families)
        {
            Assert.Equal(Languages.Order(), lists.Keys.Order());
            foreach (var (lang, list) in lists)
            {
                Assert.True(list.Length == PerList, $"{family}/{lang}: {list.Length} templates");
                Assert.True(list.Distinct().Count() == PerList, $"{family}/{lang}: duplicate templates");
            }
        }
    }

    /// <summary>Placeholders that determine the SQL (an alternative group: any one of its members).</summary>
    static readonly Dictionary<string, string[][]> Required = new()
    {
        ["count"] = [["items", "items_gen"], ["filter"]],
        ["list"] = [["items", "items_gen"], ["name"], ["where"]],
        ["agg"] = [["items", "items_gen"], ["agg", "Agg"], ["num", "num_gen"], ["where"]],
        ["order"] = [["items", "items_gen"], ["k"], ["num", "num_gen"], ["where"]],
        ["join"] = [["items", "items_gen"], ["child", "child_gen"], ["where"]],
        ["group"] = [["items", "items_gen"], ["text", "text_dat"], ["cond"]],
    };

    [Fact]
    public void Every_template_must_carry_the_placeholders_its_sql_depends_on()
    {
        foreach (var (family, lists) in Families)
        foreach (var (lang, list) in lists)
        foreach (var template in list)
        {
            var used = Regex.Matches(template, @"\{(\w+)\}").Select(m => m.Groups[1].Value).ToHashSet();
            foreach (var group in Required[family])
                Assert.True(group.Any(used.Contains), $"{family}/{lang} '{template}' lacks {{{string.Join("|", group)}}}");
            Assert.True(used.Count(p => p is "items" or "items_gen") <= 1 || lang == "ru", $"'{template}' names the items twice");
        }
    }

    [Fact]
    public void Every_template_must_fill_to_a_short_question_with_worst_case_values()
    {
        var condition = Static<IReadOnlyDictionary<string, string>>(Templates, "Condition");
        var aggWords = Static<IReadOnlyDictionary<string, string[]>>(Templates, "AggregateWords");
        var lexicons = ((IEnumerable)Static<object>(Profile, "All")).Cast<object>()
            .Select(p => (IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>)Profile.GetProperty("Lexicon")!.GetValue(p)!)
            .ToList();
        var longest = 0;
        var tooLong = new SortedSet<string>();
        foreach (var lexicon in lexicons)
        foreach (var lang in Languages)
        foreach (var (family, lists) in Families)
        foreach (var template in lists[lang])
        foreach (var agg in aggWords[lang])
        {
            var values = new Dictionary<string, string>(lexicon[lang])
            {
                ["v"] = "Wwwwwwwww", ["n"] = "1970", ["k"] = "5", ["agg"] = agg,
            };
            values["filter"] = values["where"];
            values["cond"] = condition[lang];
            var questions = new List<string> { Fill(template, values) };
            if (family == "count") questions.Add(Fill(template, new Dictionary<string, string>(values) { ["filter"] = condition[lang] }));
            foreach (var q in questions)
            {
                Assert.DoesNotContain("{", q);
                if (q.Length > 90) tooLong.Add($"{family}/{lang}: '{q}' has {q.Length} chars");
                longest = Math.Max(longest, q.Length);
            }
        }
        Assert.True(tooLong.Count == 0, string.Join("\n", tooLong));
        Assert.InRange(longest, 40, 90);
    }

    [Fact]
    public void Sft_must_see_the_first_four_templates_rl_the_first_six_and_held_out_only_the_last_two()
    {
        static int Index(string templateId) => int.Parse(templateId[(templateId.LastIndexOf('/') + 1)..]);
        const int sftTemplates = PerList - HeldOutPerList - 2;
        Assert.All(fixture.Data.Sft, e => Assert.InRange(Index(e.TemplateId), 0, sftTemplates - 1));
        Assert.All(fixture.Data.Rl, e => Assert.InRange(Index(e.TemplateId), 0, PerList - HeldOutPerList - 1));
        Assert.All(fixture.Data.HeldOut, e => Assert.InRange(Index(e.TemplateId), PerList - HeldOutPerList, PerList - 1));
        foreach (var cell in fixture.Data.Sft.GroupBy(e => (e.Language, e.QueryType)))
            Assert.True(cell.Select(e => Index(e.TemplateId)).Distinct().Count() == sftTemplates,
                $"{cell.Key}: sft sees only templates {string.Join(",", cell.Select(e => Index(e.TemplateId)).Distinct().Order())}");
        // RL-only paraphrases are there for GRPO to generalise on.
        Assert.Contains(fixture.Data.Rl, e => Index(e.TemplateId) == sftTemplates);
        Assert.Contains(fixture.Data.Rl, e => Index(e.TemplateId) == sftTemplates + 1);
        foreach (var cell in fixture.Data.HeldOut.GroupBy(e => (e.Language, e.QueryType)))
            Assert.True(cell.Select(e => Index(e.TemplateId)).Distinct().Count() == HeldOutPerList, $"{cell.Key}: held out misses a template");
    }
}
