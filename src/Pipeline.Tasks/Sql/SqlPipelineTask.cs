using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// The built-in task as the pipeline sees it: SFT demonstrations, RL prompts (gold SQL only as the reward's
/// reference), the held-out split, the execution and rubric reward sources, and the per-language evaluator.
/// Creates real SQLite files under <c>databaseDirectory</c>.
/// The "rubric" source is a <see cref="RubricRewardSource"/> over the rubric at <see cref="RubricPath"/> (by default the shipped
/// hocon/rubrics/sql.conf next to the executable, else the copy embedded in this assembly) with the predicates of
/// <see cref="SqlRubricPredicates"/>.
/// </summary>
public sealed class SqlPipelineTask : IPipelineTask, IRubricTask
{
    private readonly SqlTaskData _data;
    private readonly SqlExecutor _executor;
    private readonly TimeSpan _queryTimeout;
    private readonly ExecutionMatchOptions _match;
    private readonly Dictionary<string, SqlExample> _byId;

    /// <param name="rubricPath">Rubric file for the "rubric" reward source; null: the shipped one (see <see cref="RubricPath"/>).</param>
    /// <param name="maxResultBytes">Memory one query's result may hold (<see cref="SqlExecutor.MaxResultBytes"/>).</param>
    /// <param name="maxRows">Rows one result may have (<see cref="SqlExecutor.MaxRows"/>); a longer one is an invalid verdict.</param>
    /// <param name="match">How the execution reward and the evaluator compare numbers (default exact).</param>
    /// <param name="instances">Database instances per db id (<see cref="SqlDatabases.Create(SqlTaskData, string, int, int)"/>); a match must hold on all.</param>
    public SqlPipelineTask(SqlDatasetOptions options, string databaseDirectory, TimeSpan queryTimeout, string? rubricPath = null,
        long maxResultBytes = SqlExecutor.DefaultMaxResultBytes, int maxRows = SqlExecutor.DefaultMaxRows, ExecutionMatchOptions? match = null,
        int instances = 1)
    {
        RubricPath = rubricPath;
        _data = SqlDatasetGenerator.Generate(options);
        _executor = new SqlExecutor(SqlDatabases.Create(_data, databaseDirectory, options.Seed, instances), maxRows, maxResultBytes);
        _queryTimeout = queryTimeout;
        _match = match ?? ExecutionMatchOptions.Exact;
        _byId = _data.All.ToDictionary(e => e.Id);
        Demonstrations = _data.Sft.Select(e => new Demonstration(_data.ToPrompt(e), e.GoldSql)).ToList();
        RlPrompts = _data.Rl.Select(_data.ToPrompt).ToList();
        HeldOut = _data.HeldOut.Select(e => new Demonstration(_data.ToPrompt(e), e.GoldSql)).ToList();
    }

    public string Name => "sql";
    public SqlTaskData Data => _data;
    public long MaxResultBytes => _executor.MaxResultBytes;
    public IReadOnlyList<Demonstration> Demonstrations { get; }
    public IReadOnlyList<Prompt> RlPrompts { get; }
    public IReadOnlyList<Demonstration> HeldOut { get; }

    /// <summary>
    /// The rubric file the "rubric" source loads (HOCON or JSON); null means <see cref="SqlRubricPredicates.DefaultRubricPath"/>
    /// when it exists, else the embedded copy of hocon/rubrics/sql.conf.
    /// </summary>
    public string? RubricPath { get; }

    /// <summary>
    /// Judge for the rubric's principles (the answers_question criterion); set it before creating the "rubric" source.
    /// Null: principles marked skip-without-judge are skipped and the source stays Fast.
    /// </summary>
    public ICriterionJudge? RubricJudge { get; set; }

    /// <summary>Merges come from the demonstrations only, so held-out and RL entity names split into pieces the model has trained on.</summary>
    public IEnumerable<string> TokenizerCorpus
        => _data.Sft.SelectMany(e => new[] { _data.ToPrompt(e).Text, e.GoldSql });

    public IEnumerable<string> TokenizerAlphabet
        => _data.All.SelectMany(e => new[] { _data.ToPrompt(e).Text, e.GoldSql });

    public IRewardSource CreateRewardSource(string name) => name switch
    {
        "execution" => new SqlExecutionReward(_executor, _queryTimeout, match: _match),
        "rubric" => new RubricRewardSource(name, SqlRubricPredicates.LoadRubric(RubricPath, SqlRubricPredicates.Create(_executor)), RubricJudge),
        _ => throw new Core.Configuration.ConfigException(
            $"the sql task has no reward source '{name}' (pipeline.rewards.sources.{name}); it offers: execution, rubric"),
    };

    public RubricPredicateRegistry CreateRubricPredicates() => SqlRubricPredicates.Create(_executor);

    public Rubric LoadDefaultRubric(RubricPredicateRegistry predicates) => SqlRubricPredicates.LoadRubric(RubricPath, predicates);

    public EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions)
    {
        var report = new SqlTaskEvaluator(_executor, _queryTimeout, _match)
            .Evaluate(predictions.Select(p => (_byId[p.Example.Prompt.Id], p.Prediction)));
        return new EvalReport(
            report.PerLanguage.ToDictionary(kv => kv.Key, kv => new EvalScore(kv.Value.Count, kv.Value.ExecAcc, kv.Value.ExactMatch)),
            new EvalScore(report.Overall.Count, report.Overall.ExecAcc, report.Overall.ExactMatch));
    }

    public void Dispose() { }
}
