using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Rubrics;
using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Spider;

/// <summary>
/// Spider-format text-to-SQL (pipeline.task.name = spider): every training question is a demonstration (its gold SQL the
/// completion) and an RL prompt; the held-out files are evaluated by execution accuracy and exact (normalised) match, in
/// slices db:&lt;db_id&gt;, hardness:&lt;easy|medium|hard|extra&gt; and, when questions name a language, lang:&lt;language&gt;.
/// Rewards: "execution" is the SQL task's <see cref="SqlExecutionReward"/> over this folder's databases, and the "rubric"
/// source gets the SQL rubric and its predicates (<see cref="SqlRubricPredicates"/>).
/// </summary>
public sealed class SpiderPipelineTask : IPipelineTask, IRubricTask
{
    private readonly SpiderDataset _data;
    private readonly Dictionary<string, SpiderQuestion> _byId;
    private readonly Action<string>? _warn;

    /// <param name="warn">Receives the start-up report (questions left out, prompts cut) and evaluation problems.</param>
    /// <exception cref="ConfigException">Bad input, naming file, line and field (see <see cref="SpiderDataset"/>).</exception>
    public SpiderPipelineTask(SpiderTaskOptions options, Action<string>? warn = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        _warn = warn;
        _data = SpiderDataset.Load(options);
        _byId = _data.Train.Concat(_data.HeldOut).ToDictionary(q => q.Id, StringComparer.Ordinal);
        Demonstrations = _data.Train.Select(q => new Demonstration(q.ToPrompt(), q.GoldSql)).ToList();
        RlPrompts = _data.Train.Select(q => q.ToPrompt()).ToList();
        HeldOut = _data.HeldOut.Select(q => new Demonstration(q.ToPrompt(), q.GoldSql)).ToList();
        foreach (var line in Report.Warnings()) warn?.Invoke(line);
    }

    public string Name => "spider";
    public SpiderTaskOptions Options { get; }
    public SpiderLoadReport Report => _data.Report;
    public IReadOnlyList<SpiderQuestion> Questions => [.. _data.Train, .. _data.HeldOut];
    public IReadOnlyList<Demonstration> Demonstrations { get; }
    public IReadOnlyList<Prompt> RlPrompts { get; }
    public IReadOnlyList<Demonstration> HeldOut { get; }

    /// <summary>Merges come from the training prompts and gold SQL only, so held-out databases' names are new to the tokenizer.</summary>
    public IEnumerable<string> TokenizerCorpus => _data.Train.SelectMany(q => new[] { q.PromptText, q.GoldSql });

    public IEnumerable<string> TokenizerAlphabet => TokenizerCorpus.Concat(_data.HeldOut.SelectMany(q => new[] { q.PromptText, q.GoldSql }));

    /// <summary>The start-up check, before any run folder exists: reads the folder and runs every gold query, as a run does.</summary>
    public static SpiderLoadReport Validate(SpiderTaskOptions options) => SpiderDataset.Load(options).Report;

    public IRewardSource CreateRewardSource(string name) => name switch
    {
        "execution" => new SqlExecutionReward(_data.Executor, Options.QueryTimeout, Options.GoldTimeout),
        _ => throw new ConfigException($"the spider task has no reward source '{name}' (pipeline.rewards.sources.{name}); it offers: execution (and the rubric type's SQL rubric)"),
    };

    public RubricPredicateRegistry CreateRubricPredicates() => SqlRubricPredicates.Create(_data.Executor);

    public Rubric LoadDefaultRubric(RubricPredicateRegistry predicates) => SqlRubricPredicates.LoadRubric(null, predicates);

    /// <summary>
    /// Execution accuracy (the SQL task's <see cref="SqlResultComparer"/>) and exact match (<see cref="SqlNormalizer"/>) per slice.
    /// A question whose gold query fails now (it passed at start-up: a timeout under load) cannot be scored: it is left out of
    /// every count and reported, never scored 0.
    /// </summary>
    public EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var tallies = new Dictionary<string, (int Count, int Correct, int Exact)>(StringComparer.Ordinal);
        var all = (Count: 0, Correct: 0, Exact: 0);
        var golds = new Dictionary<string, SqlExecutionResult>(StringComparer.Ordinal);
        var unscored = new List<string>();
        foreach (var (example, prediction) in predictions)
        {
            if (!_byId.TryGetValue(example.Prompt.Id, out var q))
                throw new ArgumentException($"prompt '{example.Prompt.Id}' is not a question of this task", nameof(predictions));
            if (!golds.TryGetValue(q.Id, out var gold)) golds[q.Id] = gold = _data.Executor.Execute(q.DbId, q.GoldSql, Options.GoldTimeout);
            if (!gold.Ok || gold.Truncated)
            {
                unscored.Add($"{q.Id} ({gold.Error}: {gold.Message})");
                continue;
            }
            var sql = SqlCompletion.Extract(prediction);
            var predicted = _data.Executor.Execute(q.DbId, sql, Options.QueryTimeout, SqlExpectedShape.Of(gold));
            var correct = SqlResultComparer.Equivalent(gold, predicted, SqlResultComparer.OrderMatters(q.GoldSql)) ? 1 : 0;
            var exact = SqlNormalizer.Normalize(sql) == SqlNormalizer.Normalize(q.GoldSql) ? 1 : 0;
            foreach (var slice in Slices(q))
            {
                var t = tallies.GetValueOrDefault(slice);
                tallies[slice] = (t.Count + 1, t.Correct + correct, t.Exact + exact);
            }
            all = (all.Count + 1, all.Correct + correct, all.Exact + exact);
        }
        if (unscored.Count > 0)
            _warn?.Invoke($"task spider: {unscored.Count} held-out question(s) left out of the evaluation, their gold query failed: {string.Join("; ", unscored.Take(3))}");

        static EvalScore Score((int Count, int Correct, int Exact) t)
            => new(t.Count, t.Count == 0 ? 0 : t.Correct / (double)t.Count, t.Count == 0 ? 0 : t.Exact / (double)t.Count);
        return new EvalReport(tallies.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => Score(kv.Value)), Score(all));
    }

    /// <summary>The slices a question counts in: its database, its hardness and (when known) its language.</summary>
    public static IEnumerable<string> Slices(SpiderQuestion q)
    {
        yield return "db:" + q.DbId;
        yield return "hardness:" + q.Hardness;
        if (q.Language is not null) yield return "lang:" + q.Language;
    }

    public void Dispose() { }
}
