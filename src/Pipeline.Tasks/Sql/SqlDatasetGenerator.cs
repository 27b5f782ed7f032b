using System.Globalization;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Builds the mini text-to-SQL task deterministically from a seed.
/// Entity values (text values and numeric thresholds) are split once, globally, into Sft / Rl / HeldOut sets,
/// so a value never crosses splits; held-out examples also use only the held-out paraphrase templates.
/// Sampling is round-robin over (language, query type) cells so every language and type is balanced in every split.
/// </summary>
public static class SqlDatasetGenerator
{
    /// <summary>Rl and held-out each get ~15% of every entity pool, Sft the remaining ~70%, so Sft shows many distinct values.</summary>
    const double RlEntityShare = 0.15, HeldOutEntityShare = 0.15;
    static readonly int[] Limits = [2, 3, 4, 5];

    public static SqlTaskData Generate(SqlDatasetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TrainCount < 2 || options.HeldOutCount < 1) throw new ArgumentException("counts must be positive", nameof(options));

        var rng = new Random(options.Seed);
        var schemas = SqlDatabaseContent.Build(rng);
        var entitySplit = AssignEntities(rng);

        var sft = Sample(Candidates(SqlSplits.Sft, entitySplit), options.SftCount, rng, SqlSplits.Sft, []);
        var rl = Sample(Candidates(SqlSplits.Rl, entitySplit), options.RlCount, rng, SqlSplits.Rl, Questions(sft));
        var heldOut = Sample(Candidates(SqlSplits.HeldOut, entitySplit), options.HeldOutCount, rng, SqlSplits.HeldOut,
            Questions(sft.Concat(rl)));
        return new SqlTaskData(options, schemas, sft, rl, heldOut);
    }

    static HashSet<string> Questions(IEnumerable<SqlExample> examples) => examples.Select(e => e.Question).ToHashSet(StringComparer.Ordinal);

    /// <summary>Each entity value gets exactly one split; a value shared by two pools (a city, the number 30) keeps its first assignment.</summary>
    static Dictionary<string, string> AssignEntities(Random rng)
    {
        var split = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in SqlTableProfile.All)
        {
            Assign(p.TextValues, split, rng);
            Assign(Thresholds(p).Select(Invariant).ToArray(), split, rng);
        }
        return split;
    }

    static void Assign(IReadOnlyList<string> pool, Dictionary<string, string> split, Random rng)
    {
        var values = pool.Distinct().ToArray();
        Shuffle(values, rng);
        var target = new Dictionary<string, int>
        {
            [SqlSplits.HeldOut] = Math.Max(1, (int)Math.Round(values.Length * HeldOutEntityShare)),
            [SqlSplits.Rl] = Math.Max(1, (int)Math.Round(values.Length * RlEntityShare)),
        };
        target[SqlSplits.Sft] = values.Length - target[SqlSplits.HeldOut] - target[SqlSplits.Rl];
        var have = target.Keys.ToDictionary(k => k, k => values.Count(v => split.TryGetValue(v, out var s) && s == k));
        foreach (var v in values.Where(v => !split.ContainsKey(v)))
        {
            // Fill the split furthest below its target; ties go to held-out first so every pool has some held-out values.
            var pick = new[] { SqlSplits.HeldOut, SqlSplits.Rl, SqlSplits.Sft }.MaxBy(s => target[s] - have[s])!;
            split[v] = pick;
            have[pick]++;
        }
    }

    /// <summary>
    /// The threshold pool of a profile, widened to every integer between its smallest and largest listed threshold
    /// (e.g. ages 20..60 rather than the even ones), so numbers, like text values, come in many distinct values.
    /// </summary>
    static int[] Thresholds(SqlTableProfile p)
    {
        var (min, max) = (p.Thresholds.Min(), p.Thresholds.Max());
        return Enumerable.Range(min, max - min + 1).ToArray();
    }

    sealed record Candidate(string Language, string QueryType, int TemplateIndex, string Question, string Sql, string Db);

    static List<Candidate> Candidates(string split, IReadOnlyDictionary<string, string> entitySplit)
    {
        var list = new List<Candidate>();
        var templateIndices = Enumerable.Range(0, SqlQuestionTemplates.PerList)
            .Where(i => SqlQuestionTemplates.IsHeldOut(i) == (split == SqlSplits.HeldOut)).ToArray();
        foreach (var p in SqlTableProfile.All)
        {
            var texts = p.TextValues.Where(v => entitySplit[v] == split).ToArray();
            var numbers = Thresholds(p).Where(n => entitySplit[Invariant(n)] == split).ToArray();
            foreach (var lang in SqlQuestionTemplates.Languages)
            foreach (var t in templateIndices)
            {
                var lex = p.Lexicon[lang];
                foreach (var v in texts)
                {
                    var where = SqlQuestionTemplates.Fill(lex["where"], Values(lex, ("v", v)));
                    Add(SqlQueryTypes.CountFilter, t, ("filter", where));
                    Add(SqlQueryTypes.ListFilter, t, ("where", where));
                    Add(SqlQueryTypes.JoinCount, t, ("where", where));
                    for (var a = 0; a < SqlQuestionTemplates.AggregateFunctions.Count; a++)
                        Add(SqlQueryTypes.AggregateFilter, t, ("where", where), ("agg", SqlQuestionTemplates.AggregateWords[lang][a]),
                            ("sql_agg", SqlQuestionTemplates.AggregateFunctions[a]), ("v", v));
                    foreach (var k in Limits)
                        Add(SqlQueryTypes.OrderLimit, t, ("where", where), ("k", Invariant(k)), ("v", v));

                    void Add(string type, int template, params (string Key, string Value)[] extra)
                        => list.Add(Build(p, lang, type, template, Values(lex, [("v", v), .. extra])));
                }
                foreach (var n in numbers)
                {
                    var cond = SqlQuestionTemplates.Fill(SqlQuestionTemplates.Condition[lang], Values(lex, ("n", Invariant(n))));
                    list.Add(Build(p, lang, SqlQueryTypes.CountThreshold, t, Values(lex, ("filter", cond), ("n", Invariant(n)))));
                    list.Add(Build(p, lang, SqlQueryTypes.GroupCount, t, Values(lex, ("cond", cond), ("n", Invariant(n)))));
                }
            }
        }
        return list;
    }

    static Dictionary<string, string> Values(IReadOnlyDictionary<string, string> lexicon, params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string>(lexicon, StringComparer.Ordinal);
        foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    static Candidate Build(SqlTableProfile p, string lang, string queryType, int template, IReadOnlyDictionary<string, string> values)
    {
        var family = SqlQuestionTemplates.Family(queryType);
        var question = SqlQuestionTemplates.Fill(SqlQuestionTemplates.Families[family][lang][template], values, sentence: true);
        var sql = GoldSql(p, queryType, values);
        return new Candidate(lang, queryType, template, question, sql, p.Db);
    }

    /// <summary>Canonical style: upper-case keywords, single spaces, no trailing semicolon, short aliases only for joins.</summary>
    static string GoldSql(SqlTableProfile p, string queryType, IReadOnlyDictionary<string, string> v)
    {
        string Eq() => $"{p.TextColumn} = '{v["v"]}'";
        return queryType switch
        {
            SqlQueryTypes.CountFilter => $"SELECT COUNT(*) FROM {p.Table} WHERE {Eq()}",
            SqlQueryTypes.CountThreshold => $"SELECT COUNT(*) FROM {p.Table} WHERE {p.NumberColumn} > {v["n"]}",
            SqlQueryTypes.ListFilter => $"SELECT {p.NameColumn} FROM {p.Table} WHERE {Eq()}",
            SqlQueryTypes.AggregateFilter => $"SELECT {v["sql_agg"]}({p.NumberColumn}) FROM {p.Table} WHERE {Eq()}",
            SqlQueryTypes.OrderLimit => $"SELECT {p.NameColumn} FROM {p.Table} WHERE {Eq()} ORDER BY {p.NumberColumn} DESC LIMIT {v["k"]}",
            SqlQueryTypes.JoinCount =>
                $"SELECT COUNT(*) FROM {p.ChildTable} {p.ChildTable[0]} JOIN {p.Table} {p.Table[0]} " +
                $"ON {p.ChildTable[0]}.{p.ChildForeignKey} = {p.Table[0]}.id WHERE {p.Table[0]}.{Eq()}",
            SqlQueryTypes.GroupCount => $"SELECT {p.TextColumn}, COUNT(*) FROM {p.Table} WHERE {p.NumberColumn} > {v["n"]} GROUP BY {p.TextColumn}",
            _ => throw new ArgumentException(queryType),
        };
    }

    /// <summary>Round-robin over shuffled (language, query type) cells; repeats only once every cell is exhausted.</summary>
    static List<SqlExample> Sample(List<Candidate> candidates, int count, Random rng, string split, HashSet<string> forbiddenQuestions)
    {
        var cells = candidates
            .Where(c => !forbiddenQuestions.Contains(c.Question))
            .DistinctBy(c => c.Question)
            .GroupBy(c => (c.Language, c.QueryType))
            .OrderBy(g => g.Key.Language, StringComparer.Ordinal).ThenBy(g => g.Key.QueryType, StringComparer.Ordinal)
            .Select(g => g.ToArray())
            .ToList();
        if (cells.Count == 0) throw new InvalidOperationException($"no candidates for split {split}");

        var chosen = new List<Candidate>(count);
        while (chosen.Count < count)
        {
            foreach (var cell in cells) Shuffle(cell, rng);
            var depth = cells.Max(c => c.Length);
            for (var i = 0; i < depth && chosen.Count < count; i++)
            foreach (var cell in cells)
            {
                if (i < cell.Length && chosen.Count < count) chosen.Add(cell[i]);
            }
        }

        var shuffled = chosen.ToArray();
        Shuffle(shuffled, rng);
        return shuffled.Select((c, i) => new SqlExample(
            $"sql-{split}-{i}", split, c.Language, c.Db, c.QueryType, $"{c.QueryType}/{c.Language}/{c.TemplateIndex}", c.Question, c.Sql)).ToList();
    }

    static void Shuffle<T>(T[] items, Random rng)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    static string Invariant(int n) => n.ToString(CultureInfo.InvariantCulture);
}
