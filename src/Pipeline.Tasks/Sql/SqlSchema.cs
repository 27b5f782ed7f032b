namespace Pipeline.Tasks.Sql;

/// <summary>One database: its tables and the statements (DDL, then INSERTs) that build it.</summary>
public sealed record SqlSchema(string Name, IReadOnlyList<string> Tables, IReadOnlyList<string> Statements)
{
    /// <summary>The CREATE TABLE statements only, e.g. to show a model the schema.</summary>
    public IEnumerable<string> CreateStatements => Statements.Where(s => s.StartsWith("CREATE", StringComparison.Ordinal));
}
