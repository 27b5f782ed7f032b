using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Pipeline.Rewards.Critic.Simulated;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Ground truth for the simulated critic on the SQL task: runs the candidate and the gold query on the task's real SQLite
/// database (read-only, through <see cref="SqlExecutor"/>) and scores 1 when the result sets are equivalent
/// (<see cref="ExecutionMatch"/>, as the execution reward does), <see cref="ReadOnlyCredit"/> for a query that runs
/// (so is read-only: the executor refuses anything else) but gives another result, and 0 for one that does not run.
/// Unknown question or database, a failing or row-capped gold query, or a candidate result over the executor's byte budget or row cap:
/// null (the simulated judge declines).
/// </summary>
public sealed class SqlSimulatedOracle : ISimulatedOracle
{
    /// <summary>Partial credit for a read-only query that runs but returns another result.</summary>
    public const double ReadOnlyCredit = 0.2;

    private static readonly Regex DbPrefix = new(@"^\s*\[([^\]\s]+)\]", RegexOptions.Compiled);

    private readonly SqlExecutor _executor;
    private readonly Func<string, (string Db, string Gold)?> _lookup;
    private readonly TimeSpan _timeout;
    private readonly ConcurrentDictionary<(string Db, string Gold), SqlExecutionResult> _gold = new();

    /// <param name="executor">Runs queries on the task databases.</param>
    /// <param name="lookup">Question text (as the policy saw it) -> its database id and gold SQL; null when unknown. When it does not
    /// know the question, the database comes from the text's <c>[db]</c> prefix and the gold from the request's reference.</param>
    /// <param name="timeout">Limit per query (default 2 s).</param>
    public SqlSimulatedOracle(SqlExecutor executor, Func<string, (string Db, string Gold)?> lookup, TimeSpan? timeout = null)
    {
        _executor = executor ?? throw new ArgumentNullException(nameof(executor));
        _lookup = lookup ?? throw new ArgumentNullException(nameof(lookup));
        _timeout = timeout ?? TimeSpan.FromSeconds(2);
    }

    /// <summary>
    /// The oracle for a built task: every prompt of its splits (SFT, RL, held-out) by text, executed on the task's database files in
    /// <paramref name="databaseDirectory"/> (the folder the task was created with; files that are missing are written there).
    /// </summary>
    public static SqlSimulatedOracle ForTask(SqlPipelineTask task, string databaseDirectory, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        var paths = task.Data.Schemas.Keys.ToDictionary(
            name => name, name => Path.GetFullPath(Path.Combine(databaseDirectory, name + ".sqlite")), StringComparer.Ordinal);
        if (paths.Values.Any(p => !File.Exists(p)))
            paths = new Dictionary<string, string>(SqlDatabases.Create(task.Data, databaseDirectory), StringComparer.Ordinal);

        var byText = new Dictionary<string, (string Db, string Gold)>(StringComparer.Ordinal);
        foreach (var prompt in task.Demonstrations.Select(d => d.Prompt).Concat(task.RlPrompts).Concat(task.HeldOut.Select(d => d.Prompt)))
            if (prompt.Reference is { } gold)
                byText.TryAdd(prompt.Text.Trim(), (prompt.Tag("db"), gold));
        return new SqlSimulatedOracle(new SqlExecutor(paths, maxResultBytes: task.MaxResultBytes),
            question => byText.TryGetValue(question.Trim(), out var found) ? found : null, timeout);
    }

    public string Name => "sql";

    public double? Score(string question, string? reference, string candidate)
    {
        var known = _lookup(question);
        var db = known?.Db ?? (DbPrefix.Match(question) is { Success: true } m ? m.Groups[1].Value : null);
        var goldSql = known?.Gold ?? reference;
        if (db is null || string.IsNullOrWhiteSpace(goldSql) || !_executor.HasDatabase(db)) return null;

        var gold = Gold(db, goldSql);
        if (!gold.Ok || gold.Truncated) return null;
        var predicted = _executor.Execute(db, SqlCompletion.Extract(candidate), _timeout, SqlExpectedShape.Of(gold));
        var verdict = ExecutionMatch.Compare(gold, predicted, goldSql);
        if (verdict.IsInvalid) return null;
        if (!predicted.Ok) return 0;
        return verdict.IsMatch ? 1 : ReadOnlyCredit;
    }

    private SqlExecutionResult Gold(string db, string goldSql)
    {
        if (_gold.TryGetValue((db, goldSql), out var cached)) return cached;
        var result = _executor.Execute(db, goldSql, _timeout * 2);
        if (result.Error != SqlErrorKind.Timeout) _gold[(db, goldSql)] = result;
        return result;
    }
}
