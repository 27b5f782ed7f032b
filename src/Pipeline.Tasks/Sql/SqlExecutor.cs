using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Runs untrusted SQL against the task databases. Thread-safe: every call opens its own read-only connection
/// (<c>Mode=ReadOnly</c>, no pooling), so callers may share one executor.
/// Guards: one statement only; the statement must be read-only (checked before running, and the connection refuses writes anyway);
/// the time limit is checked by a progress handler inside SQLite and again before every row and cell is copied out;
/// at most <see cref="MaxRows"/> rows are read (more: <see cref="SqlExecutionResult.RowCapReached"/>, a result nobody can judge); the result may hold at most <see cref="MaxResultBytes"/> (each cell's size is
/// asked of SQLite before the cell is copied, so an oversized value is never materialised); one value is at most 1,000,000 bytes.
/// Given the shape it will be compared with (<see cref="SqlExpectedShape"/>), it stops as soon as the result cannot have it.
/// </summary>
public sealed class SqlExecutor
{
    /// <summary>VM instructions between two looks at the clock; small enough to stop within a millisecond or so.</summary>
    const int ProgressInterval = 1000;
    /// <summary>Longest string or blob a query may build, so a runaway group_concat cannot eat memory before the deadline.</summary>
    const int MaxValueLength = 1_000_000;
    /// <summary>Default for <see cref="MaxResultBytes"/> (pipeline.task.sql.max-result-bytes): far above any gold result, far below what hurts.</summary>
    public const long DefaultMaxResultBytes = 8L << 20;
    /// <summary>Default for <see cref="MaxRows"/> (pipeline.task.sql.max-rows): the byte budget ends most results first.</summary>
    public const int DefaultMaxRows = 1_000_000;
    /// <summary>Memory of one <see cref="SqlValue"/> in a row array, and the header of a string or array object.</summary>
    const long CellBytes = 24, ObjectBytes = 24;
    /// <summary>A row's array header and its slot in the result list.</summary>
    const long RowBytes = ObjectBytes + 8;

    /// <summary>Separates a database id from an instance number: "shop#2" is the second instance of "shop".</summary>
    public const char InstanceSeparator = '#';

    readonly IReadOnlyDictionary<string, string> _paths;
    readonly IReadOnlyDictionary<string, IReadOnlyList<string>> _instances;
    readonly ConcurrentDictionary<string, IReadOnlySet<string>> _tables = new(StringComparer.Ordinal);

    /// <param name="maxRows">Rows read at most (pipeline.task.sql.max-rows); beyond them the result is <see cref="SqlExecutionResult.Truncated"/>
    /// with <see cref="SqlExecutionResult.RowCapReached"/>.</param>
    /// <param name="maxResultBytes">Memory one result may hold (see <see cref="MaxResultBytes"/>); beyond it the query fails with <see cref="SqlErrorKind.TooLarge"/>.</param>
    public SqlExecutor(IReadOnlyDictionary<string, string> databasePaths, int maxRows = DefaultMaxRows, long maxResultBytes = DefaultMaxResultBytes)
    {
        ArgumentNullException.ThrowIfNull(databasePaths);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxResultBytes, 1);
        _paths = new Dictionary<string, string>(databasePaths, StringComparer.Ordinal);
        _instances = _paths.Keys
            .GroupBy(id => id.Split(InstanceSeparator)[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.OrderBy(id => id == g.Key ? 0 : 1)
                .ThenBy(id => id.Length).ThenBy(id => id, StringComparer.Ordinal).ToArray(), StringComparer.Ordinal);
        MaxRows = maxRows;
        MaxResultBytes = maxResultBytes;
    }

    public int MaxRows { get; }

    /// <summary>
    /// Bytes one result may hold in memory, summed over its cells and rows: 24 a cell and 32 a row, plus 2 bytes per byte of text
    /// (UTF-16 at most doubles UTF-8) and 4 per byte of blob (kept as hex), each string 24 more.
    /// </summary>
    public long MaxResultBytes { get; }

    public IReadOnlyCollection<string> Databases => _paths.Keys.ToArray();
    public bool HasDatabase(string dbId) => _paths.ContainsKey(dbId);

    /// <summary>
    /// The ids of every instance of <paramref name="dbId"/> (same schema, other contents; test-suite style): <paramref name="dbId"/>
    /// itself first, then each registered "<paramref name="dbId"/>#n". A prediction matches only when it matches on all of them.
    /// Just <paramref name="dbId"/> when it has no other instance; empty when it is unknown.
    /// </summary>
    public IReadOnlyList<string> InstancesOf(string dbId)
        => _instances.TryGetValue(dbId, out var ids) && _paths.ContainsKey(dbId) ? ids : HasDatabase(dbId) ? [dbId] : [];

    /// <summary>
    /// Executes <paramref name="sql"/> on <paramref name="dbId"/> and reads every row (up to the row cap and the byte budget).
    /// Failures come back as a result with an error kind, never as exceptions;
    /// only cancellation throws (<see cref="OperationCanceledException"/>), and it interrupts a running query.
    /// </summary>
    public SqlExecutionResult Execute(string dbId, string sql, TimeSpan timeout, CancellationToken cancellationToken = default)
        => Execute(dbId, sql, timeout, expected: null, cancellationToken);

    /// <summary>
    /// As <see cref="Execute(string, string, TimeSpan, CancellationToken)"/>, but when <paramref name="expected"/> is given, reading stops
    /// as soon as the result cannot have that shape: another column count (no row is read) or more rows (the row after the last expected
    /// one is stepped to, not copied). Such a result is <see cref="SqlExecutionResult.Truncated"/>, its Message says why, and it never
    /// equals another result.
    /// </summary>
    public SqlExecutionResult Execute(string dbId, string sql, TimeSpan timeout, SqlExpectedShape? expected,
        CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        if (!_paths.TryGetValue(dbId, out var path))
            return SqlExecutionResult.Failure(SqlErrorKind.UnknownDatabase, $"unknown database '{dbId}'", clock.Elapsed);

        using var connection = Open(path);
        var db = connection.Handle!;
        var (stmt, info) = Prepare(db, sql);
        using var owned = stmt;
        if (info.Error != SqlErrorKind.None) return SqlExecutionResult.Failure(info.Error, info.Message ?? "", clock.Elapsed);
        var statement = stmt!;

        var columns = raw.sqlite3_column_count(statement);
        // An empty gold result matches any empty result whatever its columns, so only a non-empty one rules other widths out.
        if (expected is not null && expected.Columns != columns && expected.Rows > 0)
            return Stopped(columns, [], 0, 0, $"{columns} columns, expected {expected.Columns}", clock.Elapsed);

        // The delegate must stay reachable while SQLite may call it.
        delegate_progress onProgress = _ => clock.Elapsed > timeout || cancellationToken.IsCancellationRequested ? 1 : 0;
        raw.sqlite3_progress_handler(db, ProgressInterval, onProgress, null);
        try
        {
            var rowLimit = Math.Min(MaxRows, expected?.Rows ?? int.MaxValue);
            var rows = new List<IReadOnlyList<SqlValue>>();
            var stepped = 0;
            long bytes = 0;
            while (true)
            {
                var rc = raw.sqlite3_step(statement) & 0xFF;
                if (rc == raw.SQLITE_DONE) break;
                if (rc == raw.SQLITE_ROW)
                {
                    stepped++;
                    cancellationToken.ThrowIfCancellationRequested();
                    if (rows.Count >= rowLimit)
                        return expected is not null && rows.Count >= expected.Rows
                            ? Stopped(columns, rows, stepped, bytes, $"more than the expected {expected.Rows} rows", clock.Elapsed)
                            : Stopped(columns, rows, stepped, bytes, $"more than {MaxRows} rows (the row cap)", clock.Elapsed) with { RowCapReached = true };
                    var row = new SqlValue[columns];
                    bytes += RowBytes + CellBytes * columns;
                    for (var i = 0; i < columns; i++)
                    {
                        // SQLite's progress handler does not run while we copy, so big rows are timed here.
                        if (clock.Elapsed > timeout)
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            return SqlExecutionResult.Failure(SqlErrorKind.Timeout,
                                $"time limit of {timeout.TotalMilliseconds:0} ms passed while reading row {stepped}", clock.Elapsed) with { RowsRead = stepped, Bytes = bytes };
                        }
                        var type = raw.sqlite3_column_type(statement, i);
                        var extra = ExtraBytes(statement, i, type);
                        if (bytes + extra > MaxResultBytes)
                            return SqlExecutionResult.Failure(SqlErrorKind.TooLarge,
                                $"result exceeds {MaxResultBytes} bytes at row {stepped}, column {i + 1}", clock.Elapsed) with { RowsRead = stepped, Bytes = bytes };
                        bytes += extra;
                        row[i] = Read(statement, i, type);
                    }
                    rows.Add(row);
                    continue;
                }
                cancellationToken.ThrowIfCancellationRequested();
                var failure = rc switch
                {
                    _ when rc == raw.SQLITE_INTERRUPT =>
                        SqlExecutionResult.Failure(SqlErrorKind.Timeout, $"interrupted after {timeout.TotalMilliseconds:0} ms", clock.Elapsed),
                    _ when rc == raw.SQLITE_READONLY =>
                        SqlExecutionResult.Failure(SqlErrorKind.WriteAttempt, ErrorMessage(db), clock.Elapsed),
                    _ => SqlExecutionResult.Failure(SqlErrorKind.Runtime, ErrorMessage(db), clock.Elapsed),
                };
                return failure with { RowsRead = stepped, Bytes = bytes };
            }
            return new SqlExecutionResult(true, SqlErrorKind.None, null, columns, rows, false, clock.Elapsed) { RowsRead = stepped, Bytes = bytes };
        }
        finally
        {
            raw.sqlite3_progress_handler(db, 0, null, null);
            GC.KeepAlive(onProgress);
        }
    }

    static SqlExecutionResult Stopped(int columns, IReadOnlyList<IReadOnlyList<SqlValue>> rows, int stepped, long bytes, string why, TimeSpan elapsed)
        => new(true, SqlErrorKind.None, why, columns, rows, true, elapsed) { RowsRead = stepped, Bytes = bytes };

    /// <summary>Prepares without running: does it parse, is it one read-only statement that returns rows.</summary>
    public SqlStatementInfo Inspect(string dbId, string sql)
    {
        if (!_paths.TryGetValue(dbId, out var path))
            return new SqlStatementInfo(false, false, false, false, SqlErrorKind.UnknownDatabase, $"unknown database '{dbId}'");
        using var connection = Open(path);
        var (stmt, info) = Prepare(connection.Handle!, sql);
        stmt?.Dispose();
        return info;
    }

    /// <summary>Table names of a database (lower case), read once from <c>sqlite_master</c>.</summary>
    public IReadOnlySet<string> Tables(string dbId)
    {
        if (!_paths.TryGetValue(dbId, out var path)) return new HashSet<string>();
        return _tables.GetOrAdd(dbId, _ =>
        {
            using var connection = Open(path);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            using var reader = command.ExecuteReader();
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            while (reader.Read()) names.Add(reader.GetString(0).ToLowerInvariant());
            return names;
        });
    }

    static SqliteConnection Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException("task database missing; run SqlDatabases.Create first", path);
        var connection = new SqliteConnection(SqlDatabases.ConnectionString(path, readOnly: true));
        connection.Open();
        raw.sqlite3_limit(connection.Handle!, raw.SQLITE_LIMIT_LENGTH, MaxValueLength);
        return connection;
    }

    /// <summary>Returns the prepared first statement (caller disposes) and the verdict; on any error the statement is already disposed.</summary>
    static (sqlite3_stmt? Stmt, SqlStatementInfo Info) Prepare(sqlite3 db, string sql)
    {
        static SqlStatementInfo Fail(SqlErrorKind kind, string message, bool parses = false)
            => new(parses, false, false, false, kind, message);

        if (string.IsNullOrWhiteSpace(sql)) return (null, Fail(SqlErrorKind.Empty, "empty query"));
        var rc = raw.sqlite3_prepare_v2(db, sql, out var stmt, out var tail) & 0xFF;
        if (rc != raw.SQLITE_OK)
        {
            stmt?.Dispose();
            return (null, Fail(SqlErrorKind.Syntax, ErrorMessage(db)));
        }
        if (stmt is null || stmt.IsInvalid)
        {
            stmt?.Dispose();
            return (null, Fail(SqlErrorKind.Empty, "no statement (only comments or semicolons)"));
        }
        if (HasAnotherStatement(db, tail))
        {
            stmt.Dispose();
            return (null, Fail(SqlErrorKind.MultipleStatements, "only one statement is allowed", parses: true));
        }
        if (raw.sqlite3_stmt_readonly(stmt) == 0)
        {
            stmt.Dispose();
            return (null, new SqlStatementInfo(true, true, false, false, SqlErrorKind.WriteAttempt, "statement would modify the database"));
        }
        if (raw.sqlite3_column_count(stmt) == 0)
        {
            stmt.Dispose();
            return (null, new SqlStatementInfo(true, true, true, false, SqlErrorKind.NotAQuery, "statement returns no rows"));
        }
        return (stmt, new SqlStatementInfo(true, true, true, true, SqlErrorKind.None, null));
    }

    /// <summary>Anything after the first statement that is more than whitespace, semicolons or comments counts as a second statement.</summary>
    static bool HasAnotherStatement(sqlite3 db, string? tail)
    {
        while (!string.IsNullOrWhiteSpace(tail) && tail.Trim().Trim(';').Trim().Length > 0)
        {
            var rc = raw.sqlite3_prepare_v2(db, tail, out var next, out var rest) & 0xFF;
            using (next)
            {
                if (rc != raw.SQLITE_OK || (next is not null && !next.IsInvalid)) return true;
            }
            if (rest == tail) return false;
            tail = rest;
        }
        return false;
    }

    /// <summary>Memory a cell's string will take, from the size SQLite reports (no copy; numbers are not converted to text).</summary>
    static long ExtraBytes(sqlite3_stmt stmt, int column, int type) => type switch
    {
        raw.SQLITE_TEXT => ObjectBytes + 2L * raw.sqlite3_column_bytes(stmt, column),
        raw.SQLITE_BLOB => ObjectBytes + 4L * raw.sqlite3_column_bytes(stmt, column),
        _ => 0,
    };

    static SqlValue Read(sqlite3_stmt stmt, int column, int type) => type switch
    {
        raw.SQLITE_INTEGER => SqlValue.Of(raw.sqlite3_column_int64(stmt, column)),
        raw.SQLITE_FLOAT => SqlValue.Of(raw.sqlite3_column_double(stmt, column)),
        raw.SQLITE_TEXT => SqlValue.Of(raw.sqlite3_column_text(stmt, column).utf8_to_string()),
        raw.SQLITE_BLOB => new SqlValue(SqlValueKind.Blob, 0, Convert.ToHexString(raw.sqlite3_column_blob(stmt, column))),
        _ => SqlValue.Null,
    };

    static string ErrorMessage(sqlite3 db) => raw.sqlite3_errmsg(db).utf8_to_string();
}
