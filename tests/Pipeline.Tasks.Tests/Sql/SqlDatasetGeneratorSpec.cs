using System.Text.RegularExpressions;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

[Collection(SqlTaskCollection.Name)]
public sealed class SqlDatasetGeneratorSpec(SqlTaskFixture fixture)
{
    static readonly string[] Languages = ["en", "es", "de", "ru"];
    SqlTaskData Data => fixture.Data;

    [Fact]
    public void Same_seed_must_give_identical_data()
    {
        var again = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 7 });
        Assert.Equal(Data.All, again.All);
        foreach (var (name, schema) in Data.Schemas)
            Assert.Equal(schema.Statements, again.Schemas[name].Statements);
    }

    [Fact]
    public void Different_seed_must_give_different_examples_and_rows()
    {
        var other = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 8 });
        Assert.NotEqual(Data.Sft.Select(e => e.Question), other.Sft.Select(e => e.Question));
        Assert.NotEqual(Data.Schemas["shop"].Statements, other.Schemas["shop"].Statements);
    }

    [Fact]
    public void Default_sizes_must_be_1600_sft_800_rl_and_600_held_out()
    {
        Assert.Equal(1600, Data.Sft.Count);
        Assert.Equal(800, Data.Rl.Count);
        Assert.Equal(600, Data.HeldOut.Count);
    }

    [Fact]
    public void Counts_must_follow_the_options()
    {
        var small = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 3, TrainCount = 300, HeldOutCount = 120, SftShare = 0.5 });
        Assert.Equal((150, 150, 120), (small.Sft.Count, small.Rl.Count, small.HeldOut.Count));
    }

    [Fact]
    public void Every_split_must_hold_all_four_languages_and_every_query_type()
    {
        foreach (var split in new[] { Data.Sft, Data.Rl, Data.HeldOut })
        {
            Assert.Equal(Languages.Order(), split.Select(e => e.Language).Distinct().Order());
            Assert.Equal(SqlQueryTypes.All.Order(), split.Select(e => e.QueryType).Distinct().Order());
            Assert.Equal(3, split.Select(e => e.DbId).Distinct().Count());
        }
    }

    [Fact]
    public void Russian_questions_must_be_written_in_cyrillic()
    {
        var russian = Data.All.Where(e => e.Language == "ru").ToList();
        Assert.NotEmpty(russian);
        Assert.All(russian, e => Assert.Matches(@"\p{IsCyrillic}", e.Question));
    }

    [Fact]
    public void Held_out_must_use_only_held_out_templates_which_train_never_uses()
    {
        var trainTemplates = Data.Sft.Concat(Data.Rl).Select(e => e.TemplateId).ToHashSet();
        var heldOutTemplates = Data.HeldOut.Select(e => e.TemplateId).ToHashSet();
        Assert.Empty(trainTemplates.Intersect(heldOutTemplates));
        // Every (language, query type) cell has at least one held-out paraphrase.
        foreach (var lang in Languages)
        foreach (var type in SqlQueryTypes.All)
            Assert.Contains(Data.HeldOut, e => e.Language == lang && e.QueryType == type);
    }

    [Fact]
    public void Held_out_entities_must_never_occur_in_sft_or_rl_and_rl_entities_must_differ_from_sft()
    {
        var sft = Data.Sft.SelectMany(e => Entities(e.GoldSql)).ToHashSet();
        var rl = Data.Rl.SelectMany(e => Entities(e.GoldSql)).ToHashSet();
        var heldOut = Data.HeldOut.SelectMany(e => Entities(e.GoldSql)).ToHashSet();
        Assert.NotEmpty(heldOut);
        Assert.Empty(heldOut.Intersect(sft));
        Assert.Empty(heldOut.Intersect(rl));
        Assert.Empty(rl.Intersect(sft));
    }

    [Fact]
    public void Sft_must_show_at_least_60_distinct_values_of_every_text_pool()
    {
        var perPool = Data.Sft.SelectMany(e => TextFilters(e.GoldSql))
            .GroupBy(f => f.Column, f => f.Value)
            .ToDictionary(g => g.Key, g => g.Distinct().Count());
        Assert.Equal(TextColumns.Order(), perPool.Keys.Order());
        Assert.All(perPool, kv => Assert.True(kv.Value >= 60, $"{kv.Key}: only {kv.Value} distinct values in sft"));
    }

    [Fact]
    public void Held_out_text_values_must_never_occur_as_words_in_sft_or_rl_questions()
    {
        var heldOut = Data.HeldOut.SelectMany(e => TextFilters(e.GoldSql)).Select(f => f.Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var rl = Data.Rl.SelectMany(e => TextFilters(e.GoldSql)).Select(f => f.Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.True(heldOut.Count >= 5 * 12, $"only {heldOut.Count} held-out text values");
        Assert.All(Data.Sft.Concat(Data.Rl), e => Assert.Empty(Words(e.Question).Where(heldOut.Contains)));
        Assert.All(Data.Sft, e => Assert.Empty(Words(e.Question).Where(rl.Contains)));
    }

    [Fact]
    public void Entity_split_must_give_sft_most_values_and_rl_and_held_out_about_15_percent_each()
    {
        foreach (var column in TextColumns)
        {
            var pool = DistinctValues(column).ToHashSet();
            var rl = Data.Rl.SelectMany(e => TextFilters(e.GoldSql)).Where(f => f.Column == column).Select(f => f.Value).ToHashSet();
            var heldOut = Data.HeldOut.SelectMany(e => TextFilters(e.GoldSql)).Where(f => f.Column == column).Select(f => f.Value).ToHashSet();
            Assert.InRange(rl.Count, 1, pool.Count / 5);
            Assert.InRange(heldOut.Count, 1, pool.Count / 5);
        }
    }

    [Fact]
    public void Every_text_pool_must_be_large_ascii_and_fill_enough_rows_to_answer_any_question()
    {
        foreach (var (db, table, column, minRows) in new[]
                 {
                     ("shop", "customers", "city", 2), ("school", "students", "city", 2), ("shop", "products", "category", 2),
                     ("school", "courses", "dept", 2), ("library", "authors", "country", 2), ("library", "books", "genre", 2),
                 })
        {
            var counts = fixture.Executor.Execute(db, $"SELECT {column}, COUNT(*) FROM {table} WHERE {column} IS NOT NULL GROUP BY {column}",
                TimeSpan.FromSeconds(5)).Rows.ToDictionary(r => r[0].Text!, r => r[1].Number);
            Assert.True(counts.Count >= 100, $"{table}.{column}: only {counts.Count} distinct values");
            Assert.All(counts, kv =>
            {
                Assert.Matches("^[A-Za-z]{3,9}$", kv.Key);
                Assert.True(kv.Value >= minRows, $"{table}.{column} = '{kv.Key}' has {kv.Value} rows");
            });
        }
        // Both city tables hold exactly the same pool, and every value an Rl or held-out question uses is in the data
        // (Sft values are deliberately fresh, see Sft_text_values_must_be_fresh_per_example_and_never_a_pool_value).
        Assert.Equal(DistinctValues("city", "shop", "customers").Order(), DistinctValues("city", "school", "students").Order());
        foreach (var e in Data.Rl.Concat(Data.HeldOut))
        foreach (var (column, value) in TextFilters(e.GoldSql))
            Assert.Contains(value, DistinctValues(column));
    }

    [Fact]
    public void Entities_in_gold_sql_must_appear_verbatim_in_the_question()
    {
        Assert.All(Data.All, e =>
        {
            foreach (var entity in Entities(e.GoldSql)) Assert.Contains(entity, e.Question);
        });
    }

    [Fact]
    public void No_question_text_may_be_shared_between_splits()
    {
        var sft = Data.Sft.Select(e => e.Question).ToHashSet();
        var rl = Data.Rl.Select(e => e.Question).ToHashSet();
        Assert.Empty(rl.Intersect(sft));
        Assert.DoesNotContain(Data.HeldOut, e => sft.Contains(e.Question) || rl.Contains(e.Question));
    }

    [Fact]
    public void Ids_must_be_stable_split_prefixed_and_unique()
    {
        Assert.Equal("sql-sft-0", Data.Sft[0].Id);
        Assert.Equal("sql-rl-799", Data.Rl[^1].Id);
        Assert.Equal("sql-heldout-0", Data.HeldOut[0].Id);
        Assert.Equal(3000, Data.All.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void Gold_sql_must_be_a_short_canonical_select_and_questions_short()
    {
        Assert.All(Data.All, e =>
        {
            Assert.StartsWith("SELECT ", e.GoldSql);
            Assert.DoesNotContain(";", e.GoldSql);
            Assert.InRange(e.GoldSql.Length, 20, 100);
            Assert.InRange(e.Question.Length, 10, 90);
            Assert.DoesNotContain("{", e.Question);
        });
        Assert.True(Data.All.Average(e => e.Question.Length) < 60);
        Assert.True(Data.All.Average(e => e.GoldSql.Length) < 75);
    }

    [Fact]
    public void Every_gold_query_must_execute_and_almost_all_rl_and_held_out_ones_must_return_rows()
    {
        var empty = 0;
        foreach (var e in Data.All)
        {
            var result = fixture.Executor.Execute(e.DbId, e.GoldSql, TimeSpan.FromSeconds(5));
            Assert.True(result.Ok, $"{e.Id}: {e.GoldSql} -> {result.Error} {result.Message}");
            // Sft demonstrations use fresh values and are never executed for reward, so an empty result is fine there.
            if (e.Split != SqlSplits.Sft && (result.Rows.Count == 0 || result.Rows.All(r => r.All(v => v.Kind == SqlValueKind.Null)))) empty++;
        }
        var scored = Data.Rl.Count + Data.HeldOut.Count;
        Assert.True(empty < scored / 20, $"{empty} of {scored} rl / held-out gold queries return nothing useful");
    }

    [Fact]
    public void Sft_text_values_must_be_fresh_per_example_and_never_a_pool_value()
    {
        var sft = Data.Sft.Select(e => (e.Question, Filters: TextFilters(e.GoldSql).ToList())).Where(x => x.Filters.Count > 0).ToList();
        Assert.True(sft.Count > Data.Sft.Count / 2, $"only {sft.Count} sft examples have a text entity");
        var values = sft.Select(x => x.Filters.Select(f => f.Value).Distinct().Single()).ToList();
        var occurrences = values.GroupBy(v => v, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Count(), StringComparer.OrdinalIgnoreCase);
        var unique = values.Count(v => occurrences[v] == 1);
        Assert.True(unique >= 0.8 * values.Count, $"only {unique} of {values.Count} sft text values occur in a single example");

        // Every pool value is in the data, so the data's distinct values are the pools; Rl / held-out values are pool values.
        var pools = TextColumns.SelectMany(DistinctValues).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var otherSplits = Data.Rl.Concat(Data.HeldOut).SelectMany(e => TextFilters(e.GoldSql)).Select(f => f.Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.DoesNotContain(values, pools.Contains);
        Assert.DoesNotContain(values, otherSplits.Contains);

        // Pool style: ASCII pseudo-words of 4-9 letters, lower-case categories, capitalised proper nouns, never a template word.
        var templateWords = Data.Sft.Concat(Data.Rl).Concat(Data.HeldOut).Select(e => e.Question)
            .SelectMany(q => Words(q)).Where(w => !values.Contains(w, StringComparer.OrdinalIgnoreCase) && !pools.Contains(w))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.All(sft, x =>
        {
            var (column, value) = x.Filters[0];
            Assert.Matches(column == "category" ? "^[a-z]{4,9}$" : "^[A-Z][a-z]{3,8}$", value);
            Assert.Contains(value, x.Question);
            Assert.DoesNotContain(value, templateWords);
        });
    }

    [Fact]
    public void Sft_thresholds_must_be_widely_spread_and_never_an_rl_or_held_out_threshold()
    {
        static IEnumerable<int> Thresholds(SqlExample e) => Regex.Matches(e.GoldSql, @"> (\d+)").Select(m => int.Parse(m.Groups[1].Value));
        var sft = Data.Sft.SelectMany(Thresholds).ToList();
        var reserved = Data.Rl.Concat(Data.HeldOut).SelectMany(Thresholds).ToHashSet();
        Assert.True(sft.Count > 100, $"only {sft.Count} sft thresholds");
        Assert.DoesNotContain(sft, reserved.Contains);
        Assert.All(sft, n => Assert.InRange(n, 1, 9999));
        Assert.True(sft.Distinct().Count() >= 0.7 * sft.Count, $"only {sft.Distinct().Count()} distinct of {sft.Count} sft thresholds");
        foreach (var digits in new[] { 1, 2, 3, 4 })
            Assert.Contains(sft, n => n.ToString().Length == digits);
    }

    [Fact]
    public void Data_must_contain_nulls_and_duplicate_names_so_comparison_is_not_trivial()
    {
        var nullAges = fixture.Executor.Execute("shop", "SELECT COUNT(*) FROM customers WHERE age IS NULL", TimeSpan.FromSeconds(1));
        var duplicateNames = fixture.Executor.Execute("shop", "SELECT COUNT(*) - COUNT(DISTINCT name) FROM customers", TimeSpan.FromSeconds(1));
        Assert.True(nullAges.Rows[0][0].Number > 0);
        Assert.True(duplicateNames.Rows[0][0].Number > 0);
    }

    [Fact]
    public void Prompt_must_be_compact_and_carry_reference_and_tags()
    {
        var e = Data.HeldOut.First(x => x.Language == "ru");
        var prompt = Data.ToPrompt(e);
        Assert.Equal($"[{e.DbId}] [ru] {e.Question}", prompt.Text);
        Assert.Equal(e.GoldSql, prompt.Reference);
        Assert.Equal(e.Id, prompt.Id);
        Assert.Equal(("ru", e.DbId, "heldout", e.QueryType, e.TemplateId),
            (prompt.Tag("lang"), prompt.Tag("db"), prompt.Tag("split"), prompt.Tag("query_type"), prompt.Tag("template")));
    }

    static readonly string[] TextColumns = ["category", "city", "country", "dept", "genre"];
    readonly Dictionary<string, string[]> _distinct = [];

    /// <summary>Distinct non-NULL values of a pool column in the database (cities: the customers table).</summary>
    string[] DistinctValues(string column) => column switch
    {
        "city" => DistinctValues(column, "shop", "customers"),
        "category" => DistinctValues(column, "shop", "products"),
        "dept" => DistinctValues(column, "school", "courses"),
        "country" => DistinctValues(column, "library", "authors"),
        "genre" => DistinctValues(column, "library", "books"),
        _ => throw new ArgumentException(column),
    };

    string[] DistinctValues(string column, string db, string table)
    {
        var key = $"{db}.{table}.{column}";
        if (!_distinct.TryGetValue(key, out var values))
            _distinct[key] = values = fixture.Executor.Execute(db, $"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL",
                TimeSpan.FromSeconds(5)).Rows.Select(r => r[0].Text!).ToArray();
        return values;
    }

    /// <summary>(column, value) of every text equality filter in the SQL, e.g. <c>c.city = 'Lyon'</c> gives (city, Lyon).</summary>
    static IEnumerable<(string Column, string Value)> TextFilters(string sql)
        => Regex.Matches(sql, @"(\w+) = '([^']*)'").Select(m => (m.Groups[1].Value, m.Groups[2].Value));

    static IEnumerable<string> Words(string text) => Regex.Matches(text, @"[\p{L}\p{N}_]+").Select(m => m.Value);

    /// <summary>Quoted strings and comparison thresholds; LIMIT counts are not entities.</summary>
    static IEnumerable<string> Entities(string sql)
        => Regex.Matches(sql, @"'([^']*)'|> (\d+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value);
}
