using System.Globalization;

namespace Pipeline.Tasks.Sql;

/// <summary>Why a query produced no result. <see cref="Syntax"/> covers every compile-time error (bad syntax, unknown table or column).</summary>
public enum SqlErrorKind
{
    None,
    Empty,
    Syntax,
    MultipleStatements,
    WriteAttempt,
    /// <summary>A read-only statement that returns no columns (BEGIN, ATTACH, ...).</summary>
    NotAQuery,
    Timeout,
    Runtime,
    UnknownDatabase,
    /// <summary>The result would hold more than the executor's byte budget (<see cref="SqlExecutor.MaxResultBytes"/>).</summary>
    TooLarge,
}

public enum SqlValueKind { Null, Number, Text, Blob }

/// <summary>
/// A normalised cell: integers and reals are both <see cref="SqlValueKind.Number"/> (an integer also keeps its exact 64-bit value in
/// <see cref="Integer"/>, so <see cref="ExecutionMatch"/> can compare 9007199254740993 and 9007199254740992.0 exactly),
/// NULL is its own kind, blobs are kept as hex text.
/// </summary>
public readonly record struct SqlValue(SqlValueKind Kind, double Number, string? Text)
{
    public static readonly SqlValue Null = new(SqlValueKind.Null, 0, null);
    public static SqlValue Of(double number) => new(SqlValueKind.Number, number, null);
    public static SqlValue Of(long integer) => new(SqlValueKind.Number, integer, null) { Integer = integer };
    public static SqlValue Of(string text) => new(SqlValueKind.Text, 0, text);

    /// <summary>The exact value when SQLite returned an integer; null for a real (and for every other kind).</summary>
    public long? Integer { get; init; }

    public override string ToString() => Kind switch
    {
        SqlValueKind.Null => "NULL",
        SqlValueKind.Number when Integer is { } i => i.ToString(CultureInfo.InvariantCulture),
        SqlValueKind.Number => Number.ToString("R", CultureInfo.InvariantCulture),
        SqlValueKind.Blob => "x'" + Text + "'",
        _ => Text ?? "",
    };
}

/// <summary>
/// The outcome of one query. <see cref="Truncated"/> means reading stopped before the last row: the row cap
/// (<see cref="RowCapReached"/>: the result could not be judged), or the result certainly differs from the expected shape
/// (<see cref="SqlExecutor.Execute(string, string, TimeSpan, SqlExpectedShape?, CancellationToken)"/>);
/// <see cref="Message"/> says which. Such a result never equals another.
/// </summary>
public sealed record SqlExecutionResult(
    bool Ok,
    SqlErrorKind Error,
    string? Message,
    int ColumnCount,
    IReadOnlyList<IReadOnlyList<SqlValue>> Rows,
    bool Truncated,
    TimeSpan Elapsed)
{
    /// <summary>Rows SQLite produced before reading ended, counting the one that showed the result had too many.</summary>
    public int RowsRead { get; init; }

    /// <summary>Reading stopped at the executor's row cap (<see cref="SqlExecutor.MaxRows"/>): an unjudgeable result, not a wrong one.</summary>
    public bool RowCapReached { get; init; }

    /// <summary>Memory the rows read hold (on failure: held when reading stopped), as counted against <see cref="SqlExecutor.MaxResultBytes"/>.</summary>
    public long Bytes { get; init; }

    public static SqlExecutionResult Failure(SqlErrorKind error, string message, TimeSpan elapsed)
        => new(false, error, message, 0, [], false, elapsed);
}

/// <summary>
/// The shape a result will be compared with; a result with more rows cannot match it, nor one of another column count unless both
/// are empty (two empty results match whatever their columns).
/// </summary>
public sealed record SqlExpectedShape(int Columns, int Rows)
{
    public static SqlExpectedShape Of(SqlExecutionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new(result.ColumnCount, result.Rows.Count);
    }
}

/// <summary>What preparing a statement (without running it) tells us; the rubric reads this.</summary>
public sealed record SqlStatementInfo(bool Parses, bool SingleStatement, bool ReadOnly, bool ReturnsRows, SqlErrorKind Error, string? Message);
