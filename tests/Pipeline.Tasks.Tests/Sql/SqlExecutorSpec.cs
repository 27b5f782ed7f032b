using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

[Collection(SqlTaskCollection.Name)]
public sealed class SqlExecutorSpec(SqlTaskFixture fixture)
{
    const string NeverEnding = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
    static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    // Row counts of the generated databases: 6 customers per city and 3 enrolments per student, 120 cities.
    const int CustomerRows = 720, EnrolmentRows = 2160;
    SqlExecutor Executor => fixture.Executor;

    [Fact]
    public void Select_must_return_normalised_rows_with_nulls_numbers_and_text()
    {
        var result = Executor.Execute("shop", "SELECT 1, 2.5, NULL, 'Lyon'", Second);
        Assert.True(result.Ok);
        Assert.Equal(4, result.ColumnCount);
        Assert.Equal([SqlValue.Of(1), SqlValue.Of(2.5), SqlValue.Null, SqlValue.Of("Lyon")], result.Rows.Single());
    }

    [Theory]
    [InlineData("SELEC name FROM customers")]
    [InlineData("SELECT name FROM clients")]
    [InlineData("SELECT nme FROM customers")]
    [InlineData("SELECT name FROM customers WHERE city = 'Lyon")]
    public void Malformed_or_unknown_names_must_be_reported_as_syntax(string sql)
    {
        var result = Executor.Execute("shop", sql, Second);
        Assert.False(result.Ok);
        Assert.Equal(SqlErrorKind.Syntax, result.Error);
        Assert.False(string.IsNullOrEmpty(result.Message));
    }

    [Theory]
    [InlineData("INSERT INTO customers (name, city, age) VALUES ('Eve', 'Lyon', 30)")]
    [InlineData("DELETE FROM orders")]
    [InlineData("DROP TABLE customers")]
    [InlineData("UPDATE products SET price = 0")]
    [InlineData("CREATE TABLE t (x INTEGER)")]
    [InlineData("PRAGMA user_version = 7")]
    public void Write_attempts_must_be_rejected_and_leave_the_file_unchanged(string sql)
    {
        var before = Hash(fixture.Paths["shop"]);
        var result = Executor.Execute("shop", sql, Second);
        Assert.False(result.Ok);
        Assert.Equal(SqlErrorKind.WriteAttempt, result.Error);
        Assert.Equal(before, Hash(fixture.Paths["shop"]));
        Assert.Equal(CustomerRows, Executor.Execute("shop", "SELECT COUNT(*) FROM customers", Second).Rows[0][0].Number);
    }

    [Fact]
    public void Reward_connections_must_be_read_only_even_without_the_statement_check()
    {
        using var connection = new SqliteConnection(SqlDatabases.ConnectionString(fixture.Paths["school"], readOnly: true));
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM students";
        var error = Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
        Assert.Equal(8, error.SqliteErrorCode); // SQLITE_READONLY
    }

    [Theory]
    [InlineData("SELECT 1; DROP TABLE customers")]
    [InlineData("SELECT 1; SELECT 2")]
    [InlineData("SELECT 1;\n-- fine\nSELECT 2;")]
    public void More_than_one_statement_must_be_rejected(string sql)
    {
        var result = Executor.Execute("shop", sql, Second);
        Assert.Equal(SqlErrorKind.MultipleStatements, result.Error);
        Assert.Equal(CustomerRows, Executor.Execute("shop", "SELECT COUNT(*) FROM customers", Second).Rows[0][0].Number);
    }

    [Theory]
    [InlineData("SELECT 1;")]
    [InlineData("SELECT 1 ;  ; ")]
    [InlineData("SELECT 1; -- trailing comment")]
    public void Trailing_semicolons_and_comments_must_be_accepted(string sql)
        => Assert.True(Executor.Execute("shop", sql, Second).Ok);

    [Theory]
    [InlineData("")]
    [InlineData("   \n ")]
    [InlineData("-- nothing here")]
    public void Empty_input_must_be_reported_as_empty(string sql)
        => Assert.Equal(SqlErrorKind.Empty, Executor.Execute("shop", sql, Second).Error);

    [Fact]
    public void Statements_that_return_no_rows_must_be_rejected()
        => Assert.Equal(SqlErrorKind.NotAQuery, Executor.Execute("shop", "BEGIN", Second).Error);

    [Fact]
    public void Runtime_errors_must_be_reported_as_runtime()
    {
        var result = Executor.Execute("shop", "SELECT abs(-9223372036854775807 - 1)", Second);
        Assert.Equal(SqlErrorKind.Runtime, result.Error);
    }

    [Fact]
    public void A_never_ending_recursive_query_must_be_stopped_near_the_timeout()
    {
        var timeout = TimeSpan.FromMilliseconds(200);
        var clock = Stopwatch.StartNew();
        var result = Executor.Execute("shop", NeverEnding, timeout);
        clock.Stop();
        Assert.Equal(SqlErrorKind.Timeout, result.Error);
        Assert.InRange(clock.Elapsed, timeout, timeout + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Cancellation_must_interrupt_a_running_query()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var clock = Stopwatch.StartNew();
        Assert.ThrowsAny<OperationCanceledException>(() => Executor.Execute("shop", NeverEnding, TimeSpan.FromSeconds(30), cts.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }

    [Fact]
    public void A_cross_join_must_be_cut_at_the_row_cap()
    {
        var capped = new SqlExecutor(fixture.Paths, maxRows: 1000);
        var result = capped.Execute("shop", "SELECT a.id, b.id FROM orders a, orders b", Second);
        Assert.True(result.Ok);
        Assert.True(result.Truncated);
        Assert.Equal(1000, result.Rows.Count);
    }

    [Fact]
    public void The_row_cap_must_say_so_in_the_message()
    {
        var capped = new SqlExecutor(fixture.Paths, maxRows: 10);
        var result = capped.Execute("shop", "SELECT id FROM orders", Second);
        Assert.True(result.Truncated);
        Assert.True(result.RowCapReached);
        Assert.Contains("row cap", result.Message);
        Assert.Equal(11, result.RowsRead);
    }

    // printf gives NULL, not an error, for 1,000,000 characters under the 1,000,000-byte value limit; 999,999 gets through.
    [Theory]
    [InlineData("SELECT zeroblob(1000000) FROM customers, customers")]
    [InlineData("SELECT printf('%.*c', 999999, 'x') FROM customers, customers")]
    [InlineData("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, printf('%.*c', 999999, 'y') FROM c")]
    public void Many_one_megabyte_values_must_be_stopped_by_the_byte_budget_before_they_fill_memory(string sql)
    {
        Assert.True(Executor.Execute("shop", "SELECT zeroblob(10), printf('%.*c', 10, 'x')", Second).Ok); // JIT and first-call costs out of the way
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = Executor.Execute("shop", sql, TimeSpan.FromSeconds(30));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(SqlErrorKind.TooLarge, result.Error);
        Assert.Contains(Executor.MaxResultBytes.ToString(), result.Message);
        Assert.InRange(result.RowsRead, 1, 5);
        Assert.True(allocated < 2 * Executor.MaxResultBytes, $"allocated {allocated} bytes for a budget of {Executor.MaxResultBytes}");
    }

    [Fact]
    public void A_value_larger_than_the_whole_budget_must_be_refused_before_it_is_copied()
    {
        var small = new SqlExecutor(fixture.Paths, maxResultBytes: 100_000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = small.Execute("shop", "SELECT printf('%.*c', 900000, 'x')", Second);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(SqlErrorKind.TooLarge, result.Error);
        Assert.True(allocated < 200_000, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Results_within_the_budget_must_be_read_whole_with_their_size_counted()
    {
        var result = Executor.Execute("shop", "SELECT name, zeroblob(1000) FROM customers", Second);
        Assert.True(result.Ok);
        Assert.Equal(CustomerRows, result.Rows.Count);
        Assert.InRange(result.Bytes, CustomerRows * 4000L, Executor.MaxResultBytes);
    }

    [Fact]
    public void A_query_whose_rows_take_few_sqlite_instructions_must_still_stop_at_the_time_limit()
    {
        // Each row is a few costly function calls (on the row's id, so SQLite cannot hoist them out of the loop), so the whole
        // query stays under SQLite's progress-handler interval of 1000 instructions.
        const string sql = "SELECT length(hex(printf('%.*c', 400000 + id % 2, 'x'))) FROM customers LIMIT 40";
        Assert.Equal(40, Executor.Execute("shop", sql, TimeSpan.FromSeconds(30)).Rows.Count);

        var result = Executor.Execute("shop", sql, TimeSpan.FromMilliseconds(5));
        Assert.Equal(SqlErrorKind.Timeout, result.Error);
        Assert.True(result.RowsRead < 40, $"read {result.RowsRead} rows");
    }

    [Fact]
    public void A_result_with_more_rows_than_expected_must_stop_at_the_first_extra_row()
    {
        var result = Executor.Execute("shop", "SELECT id FROM customers", Second, new SqlExpectedShape(1, 3));
        Assert.True(result.Ok);
        Assert.True(result.Truncated);
        Assert.Equal(3, result.Rows.Count);
        Assert.Equal(4, result.RowsRead);
        Assert.Contains("more than the expected 3 rows", result.Message);
        Assert.False(result.RowCapReached);
    }

    [Fact]
    public void A_result_with_another_column_count_than_expected_must_read_no_row()
    {
        var result = Executor.Execute("shop", "SELECT id, name FROM customers", Second, new SqlExpectedShape(1, CustomerRows));
        Assert.True(result.Truncated);
        Assert.Equal(0, result.RowsRead);
        Assert.Equal(2, result.ColumnCount);
        Assert.Contains("2 columns, expected 1", result.Message);
    }

    [Fact]
    public void A_result_of_exactly_the_expected_shape_must_be_read_whole()
    {
        var result = Executor.Execute("shop", "SELECT id FROM customers", Second, new SqlExpectedShape(1, CustomerRows));
        Assert.True(result.Ok);
        Assert.False(result.Truncated);
        Assert.Equal(CustomerRows, result.Rows.Count);
        Assert.Equal(CustomerRows, result.RowsRead);
    }

    [Fact]
    public void An_unknown_database_must_be_reported_not_thrown()
        => Assert.Equal(SqlErrorKind.UnknownDatabase, Executor.Execute("nope", "SELECT 1", Second).Error);

    [Fact]
    public void Tables_must_list_the_schema_tables()
        => Assert.Equal(["authors", "books", "loans"], Executor.Tables("library").Order());

    [Fact]
    public void Concurrent_callers_may_share_one_executor()
    {
        var results = Enumerable.Range(0, 16).AsParallel()
            .Select(_ => Executor.Execute("school", "SELECT COUNT(*) FROM enrolments", Second).Rows[0][0].Number)
            .ToArray();
        Assert.All(results, n => Assert.Equal(EnrolmentRows, n));
    }

    [Fact]
    public void Creating_databases_again_must_replace_existing_files()
    {
        var dir = Path.Combine(fixture.Directory, "again");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "shop.sqlite"), "not a database");
        SqlDatabases.Create(fixture.Data, dir);
        var paths = SqlDatabases.Create(fixture.Data, dir);
        var executor = new SqlExecutor(paths);
        Assert.Equal(CustomerRows, executor.Execute("shop", "SELECT COUNT(*) FROM customers", Second).Rows[0][0].Number);
        Assert.Equal(Hash(fixture.Paths["library"]), Hash(paths["library"]));
    }

    static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
