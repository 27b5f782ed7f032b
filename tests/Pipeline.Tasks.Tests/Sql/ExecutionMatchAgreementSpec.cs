using System.Text.Json;
using Pipeline.Tasks.Sql;
using Xunit.Abstractions;

namespace Pipeline.Tasks.Tests.Sql;

/// <summary>
/// Our execution match against the reference's verdicts (test-suite-sql-eval's result_eq, re-implemented in
/// tests/fixtures/execmatch/result_eq.py) on the pairs of tests/fixtures/execmatch/cases.jsonl over its three Spider-format databases.
/// Regenerate the set with <c>python3 tests/fixtures/execmatch/build_cases.py</c>; docs/experiments.md records the figure.
/// </summary>
public sealed class ExecutionMatchAgreementSpec(ITestOutputHelper output)
{
    static string FixtureDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory),
                "tests", "fixtures", "execmatch");
        }
    }

    sealed record Case(string Id, string DbId, string Kind, string Gold, string Predicted, bool Match,
        JsonElement[][] GoldRows, JsonElement[][]? PredictedRows);

    /// <summary>A cell as Python's sqlite3 returned it: JSON null, a string, or a number whose text tells an int from a float.</summary>
    static SqlValue Cell(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Null => SqlValue.Null,
        JsonValueKind.String => SqlValue.Of(e.GetString()!),
        JsonValueKind.Number when e.GetRawText().IndexOfAny(['.', 'e', 'E']) < 0 => SqlValue.Of(e.GetInt64()),
        JsonValueKind.Number => SqlValue.Of(e.GetDouble()),
        _ => throw new InvalidDataException("unexpected cell " + e.GetRawText()),
    };

    static IReadOnlyList<IReadOnlyList<SqlValue>> Rows(JsonElement[][] rows)
        => rows.Select(r => (IReadOnlyList<SqlValue>)r.Select(Cell).ToArray()).ToArray();

    static List<Case> Cases()
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        return File.ReadLines(Path.Combine(FixtureDir, "cases.jsonl"))
            .Where(line => line.Length > 0)
            .Select(line => JsonSerializer.Deserialize<Case>(line, options) ?? throw new InvalidDataException("null case: " + line))
            .ToList();
    }

    [Fact]
    public void Verdicts_must_agree_with_the_reference_on_at_least_99_5_percent_of_the_case_set()
    {
        var cases = Cases();
        var databases = cases.Select(c => c.DbId).Distinct()
            .ToDictionary(db => db, db => Path.Combine(FixtureDir, "database", db, db + ".sqlite"));
        var executor = new SqlExecutor(databases);
        var timeout = TimeSpan.FromSeconds(5);
        var disagreements = new List<string>();
        foreach (var c in cases)
        {
            var gold = executor.Execute(c.DbId, c.Gold, timeout);
            Assert.True(gold.Ok, $"{c.Id}: gold query failed: {gold.Message}");
            // As the reward runs it: the prediction is read only as far as it can still match.
            var predicted = executor.Execute(c.DbId, c.Predicted, timeout, SqlExpectedShape.Of(gold));
            var verdict = ExecutionMatch.Compare(gold, predicted, c.Gold);
            Assert.False(verdict.IsInvalid, $"{c.Id}: {verdict.Reason}");
            if (verdict.IsMatch != c.Match)
                disagreements.Add($"{c.Id} [{c.Kind}] reference={(c.Match ? "match" : "no match")} ours={verdict.Reason}\n  gold: {c.Gold}\n  pred: {c.Predicted}");
        }

        var agreement = 1.0 - disagreements.Count / (double)cases.Count;
        output.WriteLine($"execution-match agreement with result_eq: {cases.Count - disagreements.Count}/{cases.Count} = {agreement:P2}");
        foreach (var d in disagreements) output.WriteLine(d);
        Assert.True(cases.Count >= 500, $"the case set has only {cases.Count} pairs");
        Assert.True(agreement >= 0.995, $"agreement {agreement:P2} below 99.5%:\n" + string.Join("\n", disagreements));
    }

    [Fact]
    public void On_the_rows_the_reference_saw_the_comparer_must_agree_on_at_least_99_5_percent()
    {
        // Same verdicts on Python's SQLite results: separates the comparison from the engine (SQLite >= 3.43 sums reals more exactly).
        var cases = Cases();
        var disagreements = cases
            .Where(c => (c.PredictedRows is not null && ExecutionMatch.RowsMatch(Rows(c.GoldRows), Rows(c.PredictedRows),
                ExecutionMatch.OrderMatters(c.Gold))) != c.Match)
            .Select(c => $"{c.Id} [{c.Kind}] reference={(c.Match ? "match" : "no match")}\n  gold: {c.Gold}\n  pred: {c.Predicted}")
            .ToList();

        var agreement = 1.0 - disagreements.Count / (double)cases.Count;
        output.WriteLine($"comparer agreement with result_eq on recorded rows: {cases.Count - disagreements.Count}/{cases.Count} = {agreement:P2}");
        foreach (var d in disagreements) output.WriteLine(d);
        Assert.True(agreement >= 0.995, $"agreement {agreement:P2} below 99.5%:\n" + string.Join("\n", disagreements));
    }
}
