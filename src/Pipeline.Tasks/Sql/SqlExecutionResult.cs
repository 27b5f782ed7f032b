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
}

public enum SqlValueKind { Null, Number, Text, Blob }

/// <summary>
/// A normalised cell: integers and reals are both <see cref="SqlValueKind.Number"/> (compared with tolerance),
/// NULL is its own kind, blobs are kept as hex text.
/// </summary>
public readonly record struct SqlValue(SqlValueKind Kind, double Number, string? Text)
{
    public static readonly SqlValue Null = new(SqlValueKind.Null, 0, null);
    public static SqlValue Of(double number) => new(SqlValueKind.Number, number, null);
    public static SqlValue Of(string text) => new(SqlValueKind.Text, 0, text);

    public override string ToString() => Kind switch
    {
        SqlValueKind.Null => "NULL",
        SqlValueKind.Number => Number.ToString("R", CultureInfo.InvariantCulture),
        SqlValueKind.Blob => "x'" + Text + "'",
        _ => Text ?? "",
    };
}

/// <summary>
/// The outcome of one query. <see cref="Truncated"/> means the row cap stopped reading; such a result never equals a gold result.
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
    public static SqlExecutionResult Failure(SqlErrorKind error, string message, TimeSpan elapsed)
        => new(false, error, message, 0, [], false, elapsed);
}

/// <summary>What preparing a statement (without running it) tells us; the rubric reads this.</summary>
public sealed record SqlStatementInfo(bool Parses, bool SingleStatement, bool ReadOnly, bool ReturnsRows, SqlErrorKind Error, string? Message);
