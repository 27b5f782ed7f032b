using System.Text;
using System.Text.Json;
using Pipeline.Core.Configuration;

namespace Pipeline.Tasks.Spider;

/// <summary>A column of a Spider table: its original (SQL) name and Spider's type (text, number, time, boolean, others).</summary>
public sealed record SpiderColumn(string Name, string Type);

/// <summary>A table with its columns, primary key columns and foreign keys (column -> referenced table and column).</summary>
public sealed record SpiderTable(string Name, IReadOnlyList<SpiderColumn> Columns, IReadOnlyList<string> PrimaryKey,
    IReadOnlyList<(string Column, string RefTable, string RefColumn)> ForeignKeys);

/// <summary>One database of tables.json, with where its entry starts (for messages).</summary>
public sealed record SpiderSchema(string DbId, IReadOnlyList<SpiderTable> Tables, string Where)
{
    /// <summary>One CREATE TABLE statement per table, on one line each, with the original names the SQL must use.</summary>
    public IReadOnlyList<string> CreateStatements() => Tables.Select(CreateStatement).ToList();

    private static string CreateStatement(SpiderTable t)
    {
        var parts = t.Columns.Select(c => $"{c.Name} {c.Type}").ToList();
        if (t.PrimaryKey.Count > 0) parts.Add($"PRIMARY KEY ({string.Join(", ", t.PrimaryKey)})");
        parts.AddRange(t.ForeignKeys.Select(f => $"FOREIGN KEY ({f.Column}) REFERENCES {f.RefTable}({f.RefColumn})"));
        return $"CREATE TABLE {t.Name} ({string.Join(", ", parts)});";
    }

    /// <summary>
    /// Reads Spider's tables.json: per database db_id, table_names_original, column_names_original ([table index, name], the
    /// first being [-1, "*"]), and optionally column_types, primary_keys (column indices, or lists of them for a composite key)
    /// and foreign_keys ([column, referenced column]).
    /// </summary>
    /// <exception cref="ConfigException">Malformed file or entry, naming file:line, the entry and the field.</exception>
    public static IReadOnlyDictionary<string, SpiderSchema> Read(string path)
    {
        var (document, records) = SpiderJsonFile.Read(path, "tables.json (the schemas)");
        using (document)
        {
            var schemas = new Dictionary<string, SpiderSchema>(StringComparer.Ordinal);
            foreach (var record in records)
            {
                var schema = Parse(record);
                if (!schemas.TryAdd(schema.DbId, schema))
                    throw new ConfigException($"{record.Where}: db_id '{schema.DbId}' appears twice (first at {schemas[schema.DbId].Where})");
            }
            if (schemas.Count == 0) throw new ConfigException($"{path}: no database in it");
            return schemas;
        }
    }

    private static SpiderSchema Parse(SpiderJsonRecord r)
    {
        var db = r.Text("db_id");
        var where = $"{r.Where} (db_id '{db}')";
        var tableNames = r.Array("table_names_original").EnumerateArray().Select((t, i) => t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new ConfigException($"{where}: table_names_original[{i}] must be text, got {SpiderJsonRecord.Kind(t)}")).ToList();
        var columns = new List<(int Table, string Name)>();
        foreach (var (c, i) in r.Array("column_names_original").EnumerateArray().Select((c, i) => (c, i)))
        {
            if (c.ValueKind != JsonValueKind.Array || c.GetArrayLength() != 2 || c[0].ValueKind != JsonValueKind.Number || c[1].ValueKind != JsonValueKind.String)
                throw new ConfigException($"{where}: column_names_original[{i}] must be [table index, name]");
            var table = c[0].GetInt32();
            if (table < -1 || table >= tableNames.Count)
                throw new ConfigException($"{where}: column_names_original[{i}] names table {table}; there are {tableNames.Count} tables");
            columns.Add((table, c[1].GetString()!));
        }
        var types = Optional(r, "column_types").Select((t, i) => t.ValueKind == JsonValueKind.String ? t.GetString()!
            : throw new ConfigException($"{where}: column_types[{i}] must be text")).ToList();
        if (types.Count > 0 && types.Count != columns.Count)
            throw new ConfigException($"{where}: column_types has {types.Count} entries for {columns.Count} columns");

        string Column(JsonElement index, string field)
        {
            if (index.ValueKind != JsonValueKind.Number || !index.TryGetInt32(out var i) || i < 0 || i >= columns.Count || columns[i].Table < 0)
                throw new ConfigException($"{where}: {field} names column {index.GetRawText()}, which is not a column of a table");
            return columns[i].Name;
        }
        int TableOf(JsonElement index) => columns[index.GetInt32()].Table;

        var primary = tableNames.Select(_ => new List<string>()).ToList();
        foreach (var pk in Optional(r, "primary_keys"))
            foreach (var index in pk.ValueKind == JsonValueKind.Array ? pk.EnumerateArray().ToList() : [pk])
            {
                var name = Column(index, "primary_keys");
                primary[TableOf(index)].Add(name);
            }
        var foreign = tableNames.Select(_ => new List<(string, string, string)>()).ToList();
        foreach (var fk in Optional(r, "foreign_keys"))
        {
            if (fk.ValueKind != JsonValueKind.Array || fk.GetArrayLength() != 2)
                throw new ConfigException($"{where}: foreign_keys entries must be [column, referenced column]");
            var column = Column(fk[0], "foreign_keys");
            var referenced = Column(fk[1], "foreign_keys");
            foreign[TableOf(fk[0])].Add((column, tableNames[TableOf(fk[1])], referenced));
        }
        var tables = tableNames.Select((name, t) => new SpiderTable(name,
            columns.Select((c, i) => (c, i)).Where(x => x.c.Table == t).Select(x => new SpiderColumn(x.c.Name, types.Count > 0 ? types[x.i] : "text")).ToList(),
            primary[t], foreign[t])).ToList();
        return new SpiderSchema(db, tables, r.Where);
    }

    private static IEnumerable<JsonElement> Optional(SpiderJsonRecord r, string field)
        => r.Value.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? r.Array(field).EnumerateArray() : [];

    /// <summary>Renders a sample value: numbers as they are, text quoted (long text cut), NULL.</summary>
    public static string Literal(Sql.SqlValue value)
    {
        if (value.Kind != Sql.SqlValueKind.Text) return value.ToString();
        var text = value.Text ?? "";
        if (text.Length > 40) text = text[..40] + "...";
        var sb = new StringBuilder("'");
        sb.Append(text.Replace("'", "''", StringComparison.Ordinal).ReplaceLineEndings(" "));
        return sb.Append('\'').ToString();
    }
}
