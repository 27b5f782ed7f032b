using System.Globalization;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Builds the mini text-to-SQL task deterministically from a seed.
/// Entity values (text values and numeric thresholds) are split once, globally, into Sft / Rl / HeldOut sets,
/// so a value never crosses splits; held-out examples also use only the held-out paraphrase templates.
/// Sft demonstrations then swap their value for a fresh one (a never-repeated pseudo-word, a random threshold; see <c>Refresh</c>)
/// so a model trained on them must learn to copy values from the question instead of memorising a few pool values.
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

        // Sft is sampled from its pool values exactly like the other splits (so the shared rng, and with it Rl and held-out,
        // are as before), then every Sft value is replaced by a fresh one that no other example and no pool contains.
        var sft = Examples(Refresh(Sample(Candidates(SqlSplits.Sft, entitySplit), options.SftCount, rng, SqlSplits.Sft, []),
            options.Seed, entitySplit), SqlSplits.Sft);
        var rl = Examples(Sample(Candidates(SqlSplits.Rl, entitySplit), options.RlCount, rng, SqlSplits.Rl, Questions(sft)), SqlSplits.Rl);
        var heldOut = Examples(Sample(Candidates(SqlSplits.HeldOut, entitySplit), options.HeldOutCount, rng, SqlSplits.HeldOut,
            Questions(sft.Concat(rl))), SqlSplits.HeldOut);
        // Other RL prompts: redrawn after held-out with an rng of their own, so held-out is the same questions either way.
        if (options.RlValues == SqlRlValues.Wide || options.RlTemplates == SqlRlTemplates.RlOnly)
            rl = Examples(Sample(Candidates(SqlSplits.Rl, entitySplit, options.RlValues == SqlRlValues.Wide, options.RlTemplates == SqlRlTemplates.RlOnly),
                options.RlCount, new Random(unchecked(options.Seed * 7919 + 0x71)), SqlSplits.Rl, Questions(sft.Concat(heldOut))), SqlSplits.Rl);
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

    /// <summary>What a question is made of; <see cref="Build"/> turns it into text and SQL. V is the text value, N the threshold.</summary>
    sealed record Spec(SqlTableProfile Profile, string Language, string QueryType, int TemplateIndex, string? V, int? N, int Agg = 0, int K = 0);

    sealed record Candidate(Spec Spec, string Question, string Sql)
    {
        public string Language => Spec.Language;
        public string QueryType => Spec.QueryType;
    }

    /// <param name="wide">Rl only: also the values assigned to Sft, which no demonstration shows (they carry fresh values instead).</param>
    /// <param name="rlOnlyTemplates">Rl only: just the paraphrase templates no demonstration uses.</param>
    static List<Candidate> Candidates(string split, IReadOnlyDictionary<string, string> entitySplit, bool wide = false, bool rlOnlyTemplates = false)
    {
        bool Usable(string value) => entitySplit[value] == split || (wide && entitySplit[value] == SqlSplits.Sft);
        var list = new List<Candidate>();
        var templateIndices = Enumerable.Range(0, SqlQuestionTemplates.PerList)
            .Where(i => SqlQuestionTemplates.UsableIn(split, i)).ToArray();
        if (rlOnlyTemplates) templateIndices = templateIndices.Where(i => !SqlQuestionTemplates.UsableIn(SqlSplits.Sft, i)).ToArray();
        foreach (var p in SqlTableProfile.All)
        {
            var texts = p.TextValues.Where(Usable).ToArray();
            var numbers = Thresholds(p).Where(n => Usable(Invariant(n))).ToArray();
            foreach (var lang in SqlQuestionTemplates.Languages)
            foreach (var t in templateIndices)
            {
                foreach (var v in texts)
                {
                    Add(new(p, lang, SqlQueryTypes.CountFilter, t, v, null));
                    Add(new(p, lang, SqlQueryTypes.ListFilter, t, v, null));
                    Add(new(p, lang, SqlQueryTypes.JoinCount, t, v, null));
                    for (var a = 0; a < SqlQuestionTemplates.AggregateFunctions.Count; a++)
                        Add(new(p, lang, SqlQueryTypes.AggregateFilter, t, v, null, Agg: a));
                    foreach (var k in Limits)
                        Add(new(p, lang, SqlQueryTypes.OrderLimit, t, v, null, K: k));
                }
                foreach (var n in numbers)
                {
                    Add(new(p, lang, SqlQueryTypes.CountThreshold, t, null, n));
                    Add(new(p, lang, SqlQueryTypes.GroupCount, t, null, n));
                }
            }
        }
        return list;

        void Add(Spec spec) => list.Add(Build(spec));
    }

    static Candidate Build(Spec s)
    {
        var lex = s.Profile.Lexicon[s.Language];
        var values = new Dictionary<string, string>(lex, StringComparer.Ordinal);
        if (s.V is { } v)
        {
            values["v"] = v;
            var where = SqlQuestionTemplates.Fill(lex["where"], values);
            values["where"] = where;
            values["filter"] = where;
        }
        if (s.N is { } n)
        {
            values["n"] = Invariant(n);
            var cond = SqlQuestionTemplates.Fill(SqlQuestionTemplates.Condition[s.Language], values);
            values["cond"] = cond;
            values["filter"] = cond;
        }
        if (s.QueryType == SqlQueryTypes.AggregateFilter)
        {
            values["agg"] = SqlQuestionTemplates.AggregateWords[s.Language][s.Agg];
            values["sql_agg"] = SqlQuestionTemplates.AggregateFunctions[s.Agg];
        }
        if (s.QueryType == SqlQueryTypes.OrderLimit) values["k"] = Invariant(s.K);

        var family = SqlQuestionTemplates.Family(s.QueryType);
        var question = SqlQuestionTemplates.Fill(SqlQuestionTemplates.Families[family][s.Language][s.TemplateIndex], values, sentence: true);
        return new Candidate(s, question, GoldSql(s.Profile, s.QueryType, values));
    }

    /// <summary>
    /// Sft demonstrations keep their sampled (language, type, template) but swap the pool value for a fresh one, so the model
    /// must copy the value from the question: text values come from an endless seeded pseudo-word stream (never a pool value,
    /// SQL keyword, schema or template word, and never repeated), thresholds are drawn across 1-4 digit numbers, never one
    /// reserved for Rl or held-out. The gold SQL still executes; its result may be empty (demonstrations are never executed for reward).
    /// </summary>
    static List<Candidate> Refresh(List<Candidate> chosen, int seed, IReadOnlyDictionary<string, string> entitySplit)
    {
        var reserved = entitySplit.Where(kv => kv.Value != SqlSplits.Sft && int.TryParse(kv.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture)).ToHashSet();
        var words = new SqlDatabaseContent.FreshWords(seed);
        var numbers = new Random(unchecked(seed * 31 + 0x5F7));
        return chosen.Select(c => Build(c.Spec with
        {
            V = c.Spec.V is null ? null : words.Next(capitalise: char.IsUpper(c.Spec.V[0])),
            N = c.Spec.N is null ? null : FreshNumber(numbers, reserved),
        })).ToList();
    }

    /// <summary>Digit count 1-4 (weights 1:3:3:3, as single digits are few), then uniform within it; Rl / held-out thresholds are redrawn.</summary>
    static int FreshNumber(Random rng, HashSet<int> reserved)
    {
        while (true)
        {
            var r = rng.Next(10);
            var digits = r == 0 ? 1 : 2 + (r - 1) / 3;
            var lo = digits == 1 ? 1 : (int)Math.Pow(10, digits - 1);
            var n = rng.Next(lo, (int)Math.Pow(10, digits));
            if (!reserved.Contains(n)) return n;
        }
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
    static List<Candidate> Sample(List<Candidate> candidates, int count, Random rng, string split, HashSet<string> forbiddenQuestions)
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
        return shuffled.ToList();
    }

    static List<SqlExample> Examples(List<Candidate> candidates, string split) => candidates.Select((c, i) => new SqlExample(
        $"sql-{split}-{i}", split, c.Language, c.Spec.Profile.Db, c.QueryType, $"{c.QueryType}/{c.Language}/{c.Spec.TemplateIndex}",
        c.Question, c.Sql)).ToList();

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
