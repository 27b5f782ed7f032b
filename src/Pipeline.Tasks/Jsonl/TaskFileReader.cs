using System.Buffers;
using System.Text;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;

namespace Pipeline.Tasks.Jsonl;

/// <summary>A record that could not be read: where (file:line, or file: row N for Parquet), which field, and why.</summary>
public sealed record TaskFileProblem(string Location, string Field, string Message)
{
    public override string ToString() => $"{Location}: field '{Field}': {Message}";
}

/// <summary>
/// Streams the records of one data file: JSON Lines one line at a time, Parquet one row group at a time, so a file is never
/// held whole in memory. Each record is checked (<see cref="TaskRecord.Parse"/>); a bad one goes to the caller's
/// <c>onInvalid</c>, which throws (stop at start-up) or counts (skip-invalid).
/// </summary>
public static class TaskFileReader
{
    /// <summary>Canonical fields that hold a JSON array or object; a Parquet text column for them holds that JSON.</summary>
    private static readonly HashSet<string> JsonFields = ["messages", "references", "negatives", "metadata"];

    public static IEnumerable<(string Location, TaskRecord Record)> Read(string path, TaskSplit split, JsonlTaskOptions options, IChatRenderer renderer,
        Action<TaskFileProblem> onInvalid)
    {
        if (!File.Exists(path))
            throw new ConfigException($"{JsonlTaskOptions.BlockPath}: {SplitKey(split)} file not found: {path} (looked for {Path.GetFullPath(path)})");
        return options.IsParquet(path)
            ? ReadParquet(path, split, options, renderer, onInvalid)
            : ReadJsonLines(path, split, options, renderer, onInvalid);
    }

    /// <summary>The key under pipeline.task.jsonl that names a split's file.</summary>
    public static string SplitKey(TaskSplit split) => split switch
    {
        TaskSplit.Train => "train",
        TaskSplit.Demonstrations => "demonstrations",
        _ => "heldout",
    };

    private static IEnumerable<(string, TaskRecord)> ReadJsonLines(string path, TaskSplit split, JsonlTaskOptions options, IChatRenderer renderer,
        Action<TaskFileProblem> onInvalid)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, new FileStreamOptions { BufferSize = 1 << 16 });
        var stem = Path.GetFileNameWithoutExtension(path);
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var location = $"{path}:{lineNumber}";
            TaskRecord record;
            try
            {
                using var doc = JsonDocument.Parse(line);
                record = TaskRecord.Parse(doc.RootElement, options.Columns, split, $"{stem}-{lineNumber}", renderer, Path.GetDirectoryName(Path.GetFullPath(path)));
            }
            catch (JsonException e)
            {
                onInvalid(new TaskFileProblem(location, "(line)", $"not valid JSON: {e.Message}"));
                continue;
            }
            catch (TaskRecordException e)
            {
                onInvalid(new TaskFileProblem(location, options.Columns.GetValueOrDefault(e.Field, e.Field), e.Message));
                continue;
            }
            yield return (location, record);
        }
    }

    private static IEnumerable<(string, TaskRecord)> ReadParquet(string path, TaskSplit split, JsonlTaskOptions options, IChatRenderer renderer,
        Action<TaskFileProblem> onInvalid)
    {
        using var stream = File.OpenRead(path);
        ParquetReader parquet;
        try
        {
            parquet = ParquetReader.CreateAsync(stream).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new ConfigException($"{path}: not a readable Parquet file: {e.Message}");
        }
        try
        {
            foreach (var item in Rows(parquet, path, split, options, renderer, onInvalid)) yield return item;
        }
        finally
        {
            parquet.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static IEnumerable<(string, TaskRecord)> Rows(ParquetReader parquet, string path, TaskSplit split, JsonlTaskOptions options,
        IChatRenderer renderer, Action<TaskFileProblem> onInvalid)
    {
        var stem = Path.GetFileNameWithoutExtension(path);
        var byName = parquet.Schema.GetDataFields().GroupBy(f => f.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        // canonical field -> its Parquet column, for the mapped columns the file has.
        var mapped = new List<(string Field, DataField Column)>();
        foreach (var (field, column) in options.Columns)
        {
            if (!byName.TryGetValue(column, out var dataField)) continue;
            if (dataField.IsArray)
                throw new ConfigException($"{path}: column '{column}' ({field}) is a Parquet list; store lists as a JSON text column (see docs/tasks.md)");
            mapped.Add((field, dataField));
        }
        var row = 0;
        for (var g = 0; g < parquet.RowGroupCount; g++)
        {
            using var group = parquet.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            var columns = mapped.Select(m => (m.Field, Values: ReadColumn(group, m.Column, count, path))).ToList();
            for (var i = 0; i < count; i++)
            {
                row++;
                var location = $"{path}: row {row}";
                TaskRecord record;
                try
                {
                    var json = RowJson(columns, i, options.Columns);
                    using var doc = JsonDocument.Parse(json);
                    record = TaskRecord.Parse(doc.RootElement, options.Columns, split, $"{stem}-{row}", renderer, Path.GetDirectoryName(Path.GetFullPath(path)));
                }
                catch (TaskRecordException e)
                {
                    onInvalid(new TaskFileProblem(location, options.Columns.GetValueOrDefault(e.Field, e.Field), e.Message));
                    continue;
                }
                yield return (location, record);
            }
        }
    }

    /// <summary>One row as a JSON object under the file's own column names (so the mapping applies as for JSON Lines).</summary>
    private static byte[] RowJson(List<(string Field, object?[] Values)> columns, int i, IReadOnlyDictionary<string, string> names)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var (field, values) in columns)
            {
                w.WritePropertyName(names[field]);
                switch (values[i])
                {
                    case null: w.WriteNullValue(); break;
                    case string s when JsonFields.Contains(field):
                        try
                        {
                            using var inner = JsonDocument.Parse(s);
                            inner.RootElement.WriteTo(w);
                        }
                        catch (JsonException e)
                        {
                            throw new TaskRecordException(field, $"a Parquet text column for {field} must hold JSON: {e.Message}");
                        }
                        break;
                    case string s: w.WriteStringValue(s); break;
                    case bool b: w.WriteBooleanValue(b); break;
                    case double d: w.WriteNumberValue(d); break;
                    case float f: w.WriteNumberValue(f); break;
                    case long l: w.WriteNumberValue(l); break;
                    case int n: w.WriteNumberValue(n); break;
                    case var other: w.WriteStringValue(TaskRecord.Invariant(other)); break;
                }
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static object?[] ReadColumn(ParquetRowGroupReader group, DataField field, int count, string path)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        // Parquet.Net reports text columns it read from a file as ReadOnlyMemory<char>; both read as strings.
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var values = new string?[count];
            group.ReadAsync(field, values.AsMemory(), null).GetAwaiter().GetResult();
            return values;
        }
        if (type == typeof(long)) return Read<long>(group, field, count);
        if (type == typeof(int)) return Read<int>(group, field, count);
        if (type == typeof(double)) return Read<double>(group, field, count);
        if (type == typeof(float)) return Read<float>(group, field, count);
        if (type == typeof(bool)) return Read<bool>(group, field, count);
        throw new ConfigException($"{path}: column '{field.Name}' has type {type.Name}; text, integer, floating-point and boolean columns are read");
    }

    private static object?[] Read<T>(ParquetRowGroupReader group, DataField field, int count) where T : struct
    {
        if (!field.IsNullable)
        {
            var required = new T[count];
            group.ReadAsync(field, required.AsMemory(), null).GetAwaiter().GetResult();
            return required.Select(v => (object?)v).ToArray();
        }
        var values = new T?[count];
        group.ReadAsync(field, values.AsMemory(), null).GetAwaiter().GetResult();
        return values.Select(v => v.HasValue ? (object?)v.Value : null).ToArray();
    }
}
