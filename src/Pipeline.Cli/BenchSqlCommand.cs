using System.CommandLine;
using System.Diagnostics;
using Pipeline.Tasks.Sql;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline bench sql</c>: what hostile predicted queries cost the SQL executor under the configured limits
/// (pipeline.task.sql.query-timeout and max-result-bytes): for each, the outcome, rows read, bytes held, managed bytes
/// allocated and elapsed time, then the process's peak working set. The last query is read against a 3-row gold shape.
/// </summary>
internal static class BenchSqlCommand
{
    private static readonly (string Name, string Sql, bool AgainstGold)[] Queries =
    [
        ("zeroblob(1e6) x 720^2", "SELECT zeroblob(1000000) FROM customers, customers", false),
        ("printf 1 MB x 720^2", "SELECT printf('%.*c', 999999, 'x') FROM customers, customers", false),
        ("recursive, 1 MB rows", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, printf('%.*c', 999999, 'y') FROM c", false),
        ("slow rows, few ops", "SELECT length(hex(printf('%.*c', 400000 + a.id % 2, 'x'))) FROM customers a, customers b", false),
        ("720 rows, gold 3", "SELECT name FROM customers", true),
    ];

    public static Command Create()
    {
        var command = new Command("sql", "SQL executor under hostile queries: outcome, rows read, bytes held, managed allocation and time against the configured limits.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir,
        };
        command.SetAction((parse, ct) => Task.FromResult(Run(parse, ct)));
        return command;
    }

    private static int Run(ParseResult parse, CancellationToken ct)
    {
        var settings = CommonOptions.Load(parse).Task.Sql;
        var dir = Directory.CreateTempSubdirectory("pipeline-bench-sql-").FullName;
        try
        {
            var data = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 7, TrainCount = 40, HeldOutCount = 10 });
            var executor = new SqlExecutor(SqlDatabases.Create(data, dir), maxResultBytes: settings.MaxResultBytes);
            executor.Execute("shop", "SELECT zeroblob(10), printf('%.*c', 10, 'x')", settings.QueryTimeout, ct); // first-call costs out of the way
            var gold = SqlExpectedShape.Of(executor.Execute("shop", "SELECT name FROM customers LIMIT 3", settings.QueryTimeout, ct));
            Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; limits: {settings.QueryTimeout.TotalMilliseconds:0} ms, {settings.MaxResultBytes:N0} bytes");

            var table = new Table().AddColumns("query", "outcome", "rows read", "bytes held", "managed alloc", "elapsed ms");
            foreach (var (name, sql, againstGold) in Queries)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                var result = executor.Execute("shop", sql, settings.QueryTimeout, againstGold ? gold : null, ct);
                var elapsed = clock.Elapsed;
                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                var outcome = result.Ok ? (result.Truncated ? "stopped: " + result.Message : "ok") : result.Error.ToString();
                table.AddRow(Markup.Escape(name), Markup.Escape(outcome), $"{result.RowsRead:N0}", $"{result.Bytes:N0}", $"{allocated:N0}", $"{elapsed.TotalMilliseconds:0}");
            }
            AnsiConsole.Write(table);
            Console.WriteLine($"peak working set: {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB");
            return ExitCodes.Ok;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }
}
