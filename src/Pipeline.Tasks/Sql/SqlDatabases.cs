using Microsoft.Data.Sqlite;

namespace Pipeline.Tasks.Sql;

/// <summary>Writes the task's databases as real SQLite files and builds the connection strings used to read them.</summary>
public static class SqlDatabases
{
    /// <summary>
    /// Writes one <c>&lt;db&gt;.sqlite</c> file per schema into <paramref name="directory"/>, replacing any file already there,
    /// and returns db id -> file path. Files are built under a temporary name and moved into place, so readers never see half a file.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Create(SqlTaskData data, string directory)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Write(data.Schemas.Values, directory, suffix: "");
    }

    /// <summary>
    /// As <see cref="Create(SqlTaskData, string)"/>, plus <paramref name="instances"/> - 1 more instances of every database: the same
    /// tables filled from other seeds (derived from <paramref name="seed"/>), registered as "db#2", "db#3", ... (<see cref="SqlExecutor.InstancesOf"/>)
    /// in files <c>&lt;db&gt;.instance2.sqlite</c>, ...
    /// </summary>
    public static IReadOnlyDictionary<string, string> Create(SqlTaskData data, string directory, int seed, int instances)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(instances, 1);
        var paths = new Dictionary<string, string>(Create(data, directory), StringComparer.Ordinal);
        for (var k = 2; k <= instances; k++)
        {
            var schemas = SqlDatabaseContent.Build(new Random(unchecked(seed * 7919 + k)));
            foreach (var (name, path) in Write(schemas.Values, directory, suffix: ".instance" + k))
                paths[name + SqlExecutor.InstanceSeparator + k] = path;
        }
        return paths;
    }

    static Dictionary<string, string> Write(IEnumerable<SqlSchema> schemas, string directory, string suffix)
    {
        Directory.CreateDirectory(directory);
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var schema in schemas)
        {
            var path = Path.GetFullPath(Path.Combine(directory, schema.Name + suffix + ".sqlite"));
            var temp = path + ".building";
            File.Delete(temp);
            using (var connection = new SqliteConnection(ConnectionString(temp, readOnly: false)))
            {
                connection.Open();
                using var tx = connection.BeginTransaction();
                foreach (var statement in schema.Statements)
                {
                    using var command = connection.CreateCommand();
                    command.Transaction = tx;
                    command.CommandText = statement;
                    command.ExecuteNonQuery();
                }
                tx.Commit();
            }
            File.Move(temp, path, overwrite: true);
            paths[schema.Name] = path;
        }
        return paths;
    }

    /// <summary>Pooling is off so no handle outlives its caller and a rebuilt file is always the one read.</summary>
    public static string ConnectionString(string path, bool readOnly) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
        Pooling = false,
    }.ToString();
}
