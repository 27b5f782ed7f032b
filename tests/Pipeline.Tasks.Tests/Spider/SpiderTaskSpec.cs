using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Tasks.Spider;

namespace Pipeline.Tasks.Tests.Spider;

/// <summary>The spider task on a copy of samples/spider-mini, intact or broken the ways users' folders break.</summary>
public sealed class SpiderTaskSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spider-task-").FullName;

    public SpiderTaskSpec()
    {
        var sample = Path.Combine(RepoRoot(), "samples", "spider-mini");
        foreach (var file in Directory.GetFiles(sample, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(_dir, Path.GetRelativePath(sample, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }

    private SpiderTaskOptions Options(int sampleRows = 3, int maxPromptChars = 4000, string language = "")
        => new(_dir, "tables.json", ["train.json"], ["dev.json"], "database", sampleRows, maxPromptChars, "language", language,
            TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), 8L << 20);

    private string FilePath(string name) => Path.Combine(_dir, name);

    /// <summary>Rewrites a question file through <paramref name="change"/> (one record per line, so record N is on line N + 1).</summary>
    private void Edit(string name, Action<JsonArray> change)
    {
        var array = JsonNode.Parse(File.ReadAllText(FilePath(name)))!.AsArray();
        change(array);
        File.WriteAllLines(FilePath(name), ["[", string.Join(",\n", array.Select(r => r!.ToJsonString())), "]"]);
    }

    [Fact]
    public void The_sample_folder_loads_with_every_hardness_level_two_languages_and_an_unseen_database()
    {
        using var task = new SpiderPipelineTask(Options());

        Assert.Equal((80, 70, 0), (task.RlPrompts.Count, task.HeldOut.Count, task.Report.GoldFailed));
        Assert.Equal(80, task.Demonstrations.Count);
        Assert.All(SpiderHardness.Levels, level => Assert.True(task.Report.Hardness.GetValueOrDefault(level) >= 10, $"{level}: {task.Report.Hardness.GetValueOrDefault(level)}"));
        Assert.Equal(["de", "en"], task.RlPrompts.Select(p => p.Tag("lang")).Distinct().Order());
        Assert.DoesNotContain(task.RlPrompts, p => p.Tag("db") == "shop");
        Assert.Contains(task.HeldOut, d => d.Prompt.Tag("db") == "shop");
    }

    [Fact]
    public void A_prompt_carries_the_whole_schema_in_create_table_form_with_sample_rows_then_the_question()
    {
        using var task = new SpiderPipelineTask(Options(sampleRows: 2));
        var prompt = task.HeldOut.First(d => d.Prompt.Tag("db") == "shop").Prompt;

        Assert.StartsWith("Database: shop\nCREATE TABLE customer (customer_id number, name text, city text, PRIMARY KEY (customer_id));\n" +
                          "-- customer rows: (1, 'Hana Ito', 'Berlin'), (2, 'Luis Mora', 'Madrid')\n", prompt.Text);
        Assert.Contains("CREATE TABLE order_item (order_id number, product_id number, quantity number, FOREIGN KEY (order_id) REFERENCES orders(order_id), " +
                        "FOREIGN KEY (product_id) REFERENCES product(product_id));", prompt.Text);
        Assert.EndsWith("\nQuestion: How many customers are there?\nSQL:", prompt.Text);
        Assert.Equal("SELECT count(*) FROM customer", prompt.Reference);
        Assert.Equal("easy", prompt.Tag("hardness"));
    }

    [Fact]
    public void Over_the_budget_a_prompt_loses_its_sample_rows_and_a_schema_alone_over_it_leaves_the_question_out_counted()
    {
        using var full = new SpiderPipelineTask(Options());
        var lengths = full.Questions.ToDictionary(q => q.Id, q => q.PromptText.Length);
        using var bare = new SpiderPipelineTask(Options(sampleRows: 0));
        var bareLongest = bare.Questions.Max(q => q.PromptText.Length);
        // Between the longest bare prompt and the longest prompt with rows: every question stays, some lose their rows.
        var budget = bareLongest;
        var warnings = new List<string>();

        using var cut = new SpiderPipelineTask(Options(maxPromptChars: budget), warnings.Add);

        var expectedDropped = lengths.Count(kv => kv.Value > budget);
        Assert.True(expectedDropped > 0);
        Assert.Equal(expectedDropped, cut.Report.RowsDropped);
        Assert.Equal(150, cut.Questions.Count);
        Assert.All(cut.Questions.Where(q => q.RowsDropped), q => Assert.DoesNotContain(" rows: ", q.PromptText));
        Assert.Contains(warnings, w => w.Contains($"{expectedDropped} prompt(s) shown without sample rows"));

        using var tight = new SpiderPipelineTask(Options(maxPromptChars: budget - 1));
        Assert.True(tight.Report.SchemaTooLong > 0);
        Assert.Equal(150 - tight.Report.SchemaTooLong, tight.Questions.Count);
    }

    [Fact]
    public void A_gold_query_that_fails_is_left_out_counted_and_reported_by_file_and_line()
    {
        Edit("dev.json", a => a[2]!["query"] = "SELECT nope");
        var warnings = new List<string>();

        using var task = new SpiderPipelineTask(Options(), warnings.Add);

        Assert.Equal(1, task.Report.GoldFailed);
        Assert.Equal(69, task.HeldOut.Count);
        var warning = Assert.Single(warnings);
        Assert.Contains("left out 1 question(s) whose gold query fails", warning);
        Assert.Contains($"{FilePath("dev.json")}:4: record 3: gold query fails on database", warning);
        Assert.Contains("no such column: nope", warning);
    }

    [Fact]
    public void A_question_with_an_unknown_db_id_stops_the_load_naming_file_line_and_the_id()
    {
        Edit("train.json", a => a[4]!["db_id"] = "libary");

        var e = Assert.Throws<ConfigException>(() => new SpiderPipelineTask(Options()));

        Assert.Contains($"{FilePath("train.json")}:6: record 5: db_id 'libary' is not in {FilePath("tables.json")}", e.Message);
        Assert.Contains("library, school, shop", e.Message);
    }

    [Fact]
    public void A_question_without_its_query_stops_the_load_naming_file_line_and_field()
    {
        Edit("dev.json", a => a[6]!.AsObject().Remove("query"));

        var e = Assert.Throws<ConfigException>(() => new SpiderPipelineTask(Options()));

        Assert.Equal($"{FilePath("dev.json")}:8: record 7: field 'query' missing", e.Message);
    }

    [Fact]
    public void Malformed_json_names_file_line_and_column()
    {
        File.WriteAllText(FilePath("tables.json"), "[\n  {\"db_id\": \"library\",\n   \"table_names_original\": [\"a\" \"b\"]}\n]");

        var e = Assert.Throws<ConfigException>(() => new SpiderPipelineTask(Options()));

        Assert.StartsWith($"{FilePath("tables.json")}:3:", e.Message);
        Assert.Contains("tables.json (the schemas) is not valid JSON", e.Message);
    }

    [Fact]
    public void A_schema_entry_naming_a_table_its_database_lacks_stops_the_load()
    {
        var tables = JsonNode.Parse(File.ReadAllText(FilePath("tables.json")))!.AsArray();
        tables[0]!["table_names_original"]![2] = "loans";
        File.WriteAllText(FilePath("tables.json"), tables.ToJsonString());

        var e = Assert.Throws<ConfigException>(() => new SpiderPipelineTask(Options()));

        Assert.Contains($"{FilePath("tables.json")}:1: record 1: table(s) loans of db_id 'library' are not in", e.Message);
    }

    [Fact]
    public void A_missing_database_file_names_the_first_question_that_needs_it()
    {
        File.Delete(Path.Combine(_dir, "database", "shop", "shop.sqlite"));

        var e = Assert.Throws<ConfigException>(() => new SpiderPipelineTask(Options()));

        Assert.Contains($"{FilePath("dev.json")}:", e.Message);
        Assert.Contains("db_id 'shop': database file", e.Message);
    }

    [Fact]
    public void Gold_answers_score_full_marks_in_every_db_hardness_and_language_slice()
    {
        using var task = new SpiderPipelineTask(Options());

        var report = task.Evaluate(task.HeldOut.Select(d => (d, d.Completion)).ToList());

        Assert.Equal(70, report.Overall.Count);
        Assert.Equal(1.0, report.Overall.Accuracy);
        Assert.Equal(1.0, report.Overall.ExactMatch);
        Assert.Equal(["db:library", "db:school", "db:shop", "hardness:easy", "hardness:extra", "hardness:hard", "hardness:medium", "lang:de", "lang:en"],
            report.Slices.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(50, report.Slices["db:shop"].Count);
        Assert.Equal(35, report.Slices["lang:de"].Count);
        Assert.Equal(70, SpiderHardness.Levels.Sum(l => report.Slices["hardness:" + l].Count));
    }

    [Fact]
    public void A_wrong_answer_scores_0_in_its_slices_and_an_equivalent_one_scores_by_execution_only()
    {
        using var task = new SpiderPipelineTask(Options());
        var count = task.HeldOut.First(d => d.Prompt.Reference == "SELECT count(*) FROM customer" && d.Prompt.Tag("lang") == "en");
        var cheap = task.HeldOut.First(d => d.Prompt.Reference == "SELECT name FROM product WHERE price < 10" && d.Prompt.Tag("lang") == "de");

        var report = task.Evaluate([(count, "SELECT count(*) FROM product"), (cheap, "SELECT name FROM product WHERE NOT price >= 10")]);

        Assert.Equal(0.5, report.Overall.Accuracy);
        Assert.Equal(0.0, report.Overall.ExactMatch);
        Assert.Equal(0.0, report.Slices["lang:en"].Accuracy);
        Assert.Equal(1.0, report.Slices["lang:de"].Accuracy);
    }

    [Fact]
    public void Without_a_language_field_the_configured_language_names_the_slice_and_without_either_there_is_none()
    {
        foreach (var file in new[] { "train.json", "dev.json" })
            Edit(file, a => { foreach (var r in a) r!.AsObject().Remove("language"); });

        using (var zh = new SpiderPipelineTask(Options(language: "zh")))
            Assert.All(zh.HeldOut, d => Assert.Equal("zh", d.Prompt.Tag("lang")));
        using var unknown = new SpiderPipelineTask(Options());
        var report = unknown.Evaluate(unknown.HeldOut.Select(d => (d, d.Completion)).ToList());
        Assert.DoesNotContain(report.Slices.Keys, k => k.StartsWith("lang:", StringComparison.Ordinal));
    }

    [Fact]
    public void The_execution_reward_scores_against_the_folders_databases()
    {
        using var task = new SpiderPipelineTask(Options());

        var source = task.CreateRewardSource("execution");

        Assert.Equal("execution", source.Name);
        Assert.Throws<ConfigException>(() => task.CreateRewardSource("bleu"));
    }
}
