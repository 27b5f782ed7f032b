using System.Collections.Immutable;
using Pipeline.Core.Protocol;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

/// <summary>One generated data set and its real SQLite files in a temp folder, shared by every SQL test class.</summary>
public sealed class SqlTaskFixture : IDisposable
{
    public SqlTaskFixture()
    {
        Data = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 7 });
        Directory = Path.Combine(Path.GetTempPath(), "pipeline-sql-tests-" + Guid.NewGuid().ToString("N"));
        Paths = SqlDatabases.Create(Data, Directory);
        Executor = new SqlExecutor(Paths);
    }

    public SqlTaskData Data { get; }
    public string Directory { get; }
    public IReadOnlyDictionary<string, string> Paths { get; }
    public SqlExecutor Executor { get; }

    public static RolloutGroup Group(Prompt prompt, params string[] completions) => new(
        "g-" + prompt.Id,
        prompt,
        PolicyVersion: 0,
        completions.Select((c, i) => new Rollout($"r{i}", "g-" + prompt.Id, prompt.Id, 0, [], [], [], c, Truncated: false)).ToImmutableArray(),
        TimeSpan.Zero);

    public static Prompt AdHocPrompt(string db, string goldSql) => new(
        "adhoc-" + Guid.NewGuid().ToString("N"), $"[{db}] [en] test", goldSql, ImmutableDictionary<string, string>.Empty.Add("db", db));

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class SqlTaskCollection : ICollectionFixture<SqlTaskFixture>
{
    public const string Name = "sql task";
}
