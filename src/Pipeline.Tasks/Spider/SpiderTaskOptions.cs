using Pipeline.Core.Configuration;

namespace Pipeline.Tasks.Spider;

/// <summary>
/// pipeline.task.spider: a Spider-format folder (tables.json, question files, database/&lt;db_id&gt;/&lt;db_id&gt;.sqlite) and how
/// prompts are built from it. See docs/tasks.md.
/// </summary>
/// <param name="Path">The folder.</param>
/// <param name="Tables">Schema file, relative to the folder.</param>
/// <param name="Train">Question files for training (demonstrations and RL prompts), relative to the folder.</param>
/// <param name="HeldOut">Question files evaluated per database, hardness and language (empty: none).</param>
/// <param name="DatabaseDir">Folder of the SQLite files, relative to the folder.</param>
/// <param name="SampleRows">Rows per table shown under its CREATE TABLE (0: the schema only).</param>
/// <param name="MaxPromptChars">Prompt budget: past it the sample rows are dropped; a schema alone past it leaves the question out.</param>
/// <param name="LanguageField">A question's field naming its language (the lang: slices); absent in a record: <paramref name="Language"/>.</param>
/// <param name="Language">Language of questions that name none ("" = unknown: no lang: slices).</param>
/// <param name="QueryTimeout">Time limit of one predicted query (reward and evaluation).</param>
/// <param name="GoldTimeout">Time limit of one gold query (the start-up check and scoring).</param>
/// <param name="MaxResultBytes">Memory one query's result may hold (<see cref="Sql.SqlExecutor.MaxResultBytes"/>).</param>
public sealed record SpiderTaskOptions(string Path, string Tables, IReadOnlyList<string> Train, IReadOnlyList<string> HeldOut, string DatabaseDir,
    int SampleRows, int MaxPromptChars, string LanguageField, string Language, TimeSpan QueryTimeout, TimeSpan GoldTimeout, long MaxResultBytes)
{
    public const string BlockPath = "pipeline.task.spider";

    /// <summary>Reads and checks the block (values only; the folder's content is checked when the task loads it).</summary>
    public static SpiderTaskOptions From(ConfigBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        var path = block.Str("path", "").Trim();
        if (path.Length == 0)
            throw block.Error("path", "", "name the Spider-format folder (tables.json, train/dev files, database/), e.g. --set task.spider.path=data/spider");
        var train = Files(block, "train");
        if (train.Count == 0) throw block.Error("train", "", "name at least one question file, e.g. train_spider.json,train_others.json");
        var sampleRows = block.Int("sample-rows", 3);
        if (sampleRows is < 0 or > 100) throw block.Error("sample-rows", sampleRows, "expected 0 to 100");
        var maxPromptChars = block.Int("max-prompt-chars", 4000);
        if (maxPromptChars < 100) throw block.Error("max-prompt-chars", maxPromptChars, "expected at least 100");
        var queryTimeout = block.Duration("query-timeout", TimeSpan.FromSeconds(2));
        if (queryTimeout <= TimeSpan.Zero) throw block.Error("query-timeout", queryTimeout, "must be positive");
        var goldTimeout = block.Duration("gold-timeout", TimeSpan.FromSeconds(10));
        if (goldTimeout <= TimeSpan.Zero) throw block.Error("gold-timeout", goldTimeout, "must be positive");
        var maxResultBytes = block.Long("max-result-bytes", Sql.SqlExecutor.DefaultMaxResultBytes);
        if (maxResultBytes < 65_536) throw block.Error("max-result-bytes", maxResultBytes, "expected at least 65536");
        var tables = block.Str("tables", "tables.json").Trim();
        if (tables.Length == 0) throw block.Error("tables", "", "name the schema file (Spider's tables.json)");
        var databaseDir = block.Str("database-dir", "database").Trim();
        if (databaseDir.Length == 0) throw block.Error("database-dir", "", "name the folder of <db_id>/<db_id>.sqlite files");
        var languageField = block.Str("language-field", "language").Trim();
        if (languageField.Length == 0) throw block.Error("language-field", "", "a field name cannot be empty");
        return new SpiderTaskOptions(path, tables, train, Files(block, "heldout"), databaseDir, sampleRows, maxPromptChars, languageField,
            block.Str("language", "").Trim(), queryTimeout, goldTimeout, maxResultBytes);
    }

    /// <summary>File names separated by commas ("" = none).</summary>
    private static List<string> Files(ConfigBlock block, string key)
        => block.Str(key, "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();

    /// <summary>A file named relative to the folder (an absolute name is kept).</summary>
    public string Resolve(string name) => System.IO.Path.GetFullPath(System.IO.Path.Combine(Path, name));
}
