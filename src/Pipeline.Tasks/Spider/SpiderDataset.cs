using System.Collections.Immutable;
using System.Text;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Spider;

/// <summary>One usable question: its prompt (schema and question), gold SQL, database, language (null: unknown) and hardness.</summary>
public sealed record SpiderQuestion(string Id, string DbId, string Question, string GoldSql, string? Language, string Hardness, string Split,
    string PromptText, bool RowsDropped)
{
    public Prompt ToPrompt()
    {
        var tags = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        tags["db"] = DbId;
        tags["hardness"] = Hardness;
        tags["split"] = Split;
        if (Language is not null) tags["lang"] = Language;
        return new Prompt(Id, PromptText, GoldSql, tags.ToImmutable());
    }
}

/// <summary>
/// What loading found: questions kept per split, questions left out (a gold query that fails on its database, or a schema
/// longer than the prompt budget), prompts that lost their sample rows to the budget, and the first problems by file and line.
/// </summary>
public sealed record SpiderLoadReport(int Train, int HeldOut, int GoldFailed, int SchemaTooLong, int RowsDropped, IReadOnlyList<string> FirstProblems,
    IReadOnlyDictionary<string, int> Hardness)
{
    /// <summary>The start-up report's lines (none when nothing was left out or cut).</summary>
    public IEnumerable<string> Warnings()
    {
        if (GoldFailed > 0)
            yield return $"task spider: left out {GoldFailed} question(s) whose gold query fails on its database; first: {FirstProblems[0]}";
        if (SchemaTooLong > 0)
            yield return $"task spider: left out {SchemaTooLong} question(s) whose schema alone exceeds {SpiderTaskOptions.BlockPath}.max-prompt-chars";
        if (RowsDropped > 0)
            yield return $"task spider: {RowsDropped} prompt(s) shown without sample rows to stay within {SpiderTaskOptions.BlockPath}.max-prompt-chars";
    }
}

/// <summary>
/// Reads a Spider-format folder: tables.json, question files (JSON arrays of {db_id, question, query}, optionally a language
/// field) and database/&lt;db_id&gt;/&lt;db_id&gt;.sqlite. Malformed files, a missing field, an unknown db_id, a missing database file or a
/// table of tables.json that its database lacks stop the load with a <see cref="ConfigException"/> naming file and line. Every
/// gold query is run once: one that fails (or passes the gold time limit) is left out, counted and reported.
/// </summary>
public sealed class SpiderDataset
{
    private const int MaxProblemsKept = 10;

    private SpiderDataset(SqlExecutor executor, IReadOnlyList<SpiderQuestion> train, IReadOnlyList<SpiderQuestion> heldOut, SpiderLoadReport report)
    {
        Executor = executor;
        Train = train;
        HeldOut = heldOut;
        Report = report;
    }

    public SqlExecutor Executor { get; }
    public IReadOnlyList<SpiderQuestion> Train { get; }
    public IReadOnlyList<SpiderQuestion> HeldOut { get; }
    public SpiderLoadReport Report { get; }

    /// <exception cref="ConfigException">Bad input, naming the file, line and field; or no usable training question.</exception>
    public static SpiderDataset Load(SpiderTaskOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Directory.Exists(options.Path))
            throw new ConfigException($"{SpiderTaskOptions.BlockPath}.path = '{options.Path}': no such folder (expected tables.json, question files and {options.DatabaseDir}/)");
        var tablesPath = options.Resolve(options.Tables);
        var schemas = SpiderSchema.Read(tablesPath);

        var records = new List<(SpiderJsonRecord Record, string Split)>();
        var documents = new List<IDisposable>();
        try
        {
            foreach (var (files, split) in new[] { (options.Train, "train"), (options.HeldOut, "heldout") })
                foreach (var file in files)
                {
                    var (document, list) = SpiderJsonFile.Read(options.Resolve(file), $"question file ({split})");
                    documents.Add(document);
                    records.AddRange(list.Select(r => (r, split)));
                }

            // Fields first, for every record, so a malformed file fails before any query runs.
            var parsed = records.Select(x => Parse(x.Record, x.Split, options, schemas, tablesPath)).ToList();
            var paths = DatabasePaths(parsed, options);
            var executor = new SqlExecutor(paths, maxResultBytes: options.MaxResultBytes);
            foreach (var db in paths.Keys.Order(StringComparer.Ordinal)) CheckTables(schemas[db], executor, paths[db]);
            var prompts = paths.Keys.ToDictionary(db => db, db => SchemaText(schemas[db], executor, options.SampleRows), StringComparer.Ordinal);

            var problems = new List<string>();
            int goldFailed = 0, tooLong = 0, rowsDropped = 0;
            var train = new List<SpiderQuestion>();
            var heldOut = new List<SpiderQuestion>();
            var golds = new Dictionary<(string, string), SqlExecutionResult>();
            foreach (var q in parsed)
            {
                if (!golds.TryGetValue((q.Db, q.Gold), out var gold))
                    golds[(q.Db, q.Gold)] = gold = executor.Execute(q.Db, q.Gold, options.GoldTimeout);
                if (!gold.Ok || gold.Truncated)
                {
                    goldFailed++;
                    if (problems.Count < MaxProblemsKept)
                        problems.Add($"{q.Where}: gold query fails on database '{q.Db}' ({(gold.Ok ? "too many rows" : gold.Error.ToString())}: {gold.Message}): {q.Gold}");
                    continue;
                }
                var (withRows, bare) = prompts[q.Db];
                var text = Prompt(withRows, q.Question);
                var dropped = false;
                if (text.Length > options.MaxPromptChars && withRows != bare)
                {
                    text = Prompt(bare, q.Question);
                    dropped = true;
                }
                if (text.Length > options.MaxPromptChars)
                {
                    tooLong++;
                    continue;
                }
                if (dropped) rowsDropped++;
                var question = new SpiderQuestion(q.Id, q.Db, q.Question, q.Gold, q.Language, SpiderHardness.Classify(q.Gold), q.Split, text, dropped);
                (q.Split == "train" ? train : heldOut).Add(question);
            }
            if (train.Count == 0)
                throw new ConfigException($"{SpiderTaskOptions.BlockPath}.train = '{string.Join(",", options.Train)}': no usable question" +
                    (goldFailed + tooLong > 0 ? $" ({goldFailed} with a failing gold query, {tooLong} over max-prompt-chars)" : "") +
                    (problems.Count > 0 ? $"; first: {problems[0]}" : ""));
            var hardness = train.Concat(heldOut).GroupBy(q => q.Hardness).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            return new SpiderDataset(executor, train, heldOut, new SpiderLoadReport(train.Count, heldOut.Count, goldFailed, tooLong, rowsDropped, problems, hardness));
        }
        finally
        {
            foreach (var d in documents) d.Dispose();
        }
    }

    /// <summary>The prompt: the schema, the question, then "SQL:" for the completion to follow.</summary>
    public static string Prompt(string schema, string question) => $"{schema}\nQuestion: {question.Trim()}\nSQL:";

    private sealed record Parsed(string Id, string Db, string Question, string Gold, string? Language, string Split, string Where);

    private static Parsed Parse(SpiderJsonRecord r, string split, SpiderTaskOptions options, IReadOnlyDictionary<string, SpiderSchema> schemas, string tablesPath)
    {
        var db = r.Text("db_id");
        var question = r.Text("question");
        var gold = r.Text("query").Trim();
        if (!schemas.ContainsKey(db))
        {
            var known = schemas.Keys.Order(StringComparer.Ordinal).ToList();
            throw new ConfigException($"{r.Where}: db_id '{db}' is not in {tablesPath} (it has {known.Count}: {string.Join(", ", known.Take(10))}{(known.Count > 10 ? ", ..." : "")})");
        }
        var language = r.OptionalText(options.LanguageField)?.Trim() is { Length: > 0 } l ? l : options.Language.Length > 0 ? options.Language : null;
        return new Parsed($"{Path.GetFileNameWithoutExtension(r.File)}-{r.Index}", db, question, gold, language, split, r.Where);
    }

    /// <summary>database/&lt;db&gt;/&lt;db&gt;.sqlite for each database a question names; a missing file names the first question that needs it.</summary>
    private static Dictionary<string, string> DatabasePaths(List<Parsed> questions, SpiderTaskOptions options)
    {
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var q in questions)
        {
            if (paths.ContainsKey(q.Db)) continue;
            var path = options.Resolve(Path.Combine(options.DatabaseDir, q.Db, q.Db + ".sqlite"));
            if (!File.Exists(path)) throw new ConfigException($"{q.Where}: db_id '{q.Db}': database file {path} not found");
            paths[q.Db] = path;
        }
        return paths;
    }

    /// <summary>Every table tables.json lists must exist in the database, or the prompt would show a schema the SQL cannot use.</summary>
    private static void CheckTables(SpiderSchema schema, SqlExecutor executor, string path)
    {
        IReadOnlySet<string> actual;
        try
        {
            actual = executor.Tables(schema.DbId);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            throw new ConfigException($"{path}: not a readable SQLite database ({e.Message})");
        }
        var missing = schema.Tables.Select(t => t.Name).Where(t => !actual.Contains(t.ToLowerInvariant())).ToList();
        if (missing.Count > 0)
            throw new ConfigException($"{schema.Where}: table(s) {string.Join(", ", missing)} of db_id '{schema.DbId}' are not in {path}");
    }

    /// <summary>The schema in CREATE TABLE form, with and without a comment line of sample rows under each table.</summary>
    private static (string WithRows, string Bare) SchemaText(SpiderSchema schema, SqlExecutor executor, int sampleRows)
    {
        var statements = schema.CreateStatements();
        var bare = $"Database: {schema.DbId}\n{string.Join("\n", statements)}";
        if (sampleRows == 0) return (bare, bare);
        var sb = new StringBuilder($"Database: {schema.DbId}");
        for (var i = 0; i < statements.Count; i++)
        {
            sb.Append('\n').Append(statements[i]);
            var table = schema.Tables[i].Name;
            var rows = executor.Execute(schema.DbId, $"SELECT * FROM \"{table.Replace("\"", "\"\"", StringComparison.Ordinal)}\" LIMIT {sampleRows}", TimeSpan.FromSeconds(5));
            if (rows is { Ok: true, Rows.Count: > 0 })
                sb.Append($"\n-- {table} rows: ").Append(string.Join(", ", rows.Rows.Select(r => "(" + string.Join(", ", r.Select(SpiderSchema.Literal)) + ")")));
        }
        return (sb.ToString(), bare);
    }
}
