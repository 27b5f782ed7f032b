using Akka.Configuration;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Rewards.Verifiable;

namespace Pipeline.Tasks.Jsonl;

/// <summary>What loading the three files found: records kept and records skipped (skip-invalid = on), per split.</summary>
public sealed record JsonlLoadReport(int Train, int Demonstrations, int HeldOut, int Skipped, IReadOnlyList<TaskFileProblem> FirstProblems);

/// <summary>
/// The users' data task (pipeline.task.name = jsonl): RL prompts, optional demonstrations and a held-out split from JSON Lines
/// or Parquet files (docs/tasks.md). It offers no reward source of its own: the verifiable types (exact, regex, numeric,
/// contains, json-schema), remote, similarity, rubric and critic read the prompt's reference(s), negatives, rubric and
/// metadata. Held-out accuracy is judged per slice by the rule named in eval-match; exact match is the normalised text.
/// </summary>
public sealed class JsonlPipelineTask : IPipelineTask
{
    private readonly Func<Prompt, string, Verdict> _evalRule;
    private readonly Func<Prompt, string, Verdict> _exact;

    /// <param name="rewards">pipeline.rewards, for the settings of the eval-match rule (pipeline.rewards.&lt;rule&gt;).</param>
    /// <param name="renderer">Renders records given as chat turns; null: <see cref="PlainChatRenderer"/>.</param>
    /// <exception cref="ConfigException">A file is missing, or a record is malformed and skip-invalid is off (names file:line and field).</exception>
    public JsonlPipelineTask(JsonlTaskOptions options, Config? rewards = null, IChatRenderer? renderer = null, Action<string>? warn = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        renderer ??= PlainChatRenderer.Instance;
        var problems = new List<TaskFileProblem>();
        var skipped = 0;
        void OnInvalid(TaskFileProblem problem)
        {
            if (!options.SkipInvalid)
                throw new ConfigException($"{problem} (set {JsonlTaskOptions.BlockPath}.skip-invalid = on to skip such records and count them)");
            skipped++;
            if (problems.Count < 10) problems.Add(problem);
        }

        RlPrompts = Load(options.Train, TaskSplit.Train, r => r.ToPrompt(), renderer, OnInvalid);
        Demonstrations = options.Demonstrations.Length == 0 ? []
            : Load(options.Demonstrations, TaskSplit.Demonstrations, r => new Demonstration(r.ToPrompt(), r.Completion ?? r.References[0]), renderer, OnInvalid);
        HeldOut = options.HeldOut.Length == 0 ? []
            : Load(options.HeldOut, TaskSplit.HeldOut, r => new Demonstration(r.ToPrompt(), r.References[0]), renderer, OnInvalid);
        if (RlPrompts.Count == 0)
            throw new ConfigException($"{JsonlTaskOptions.BlockPath}.train = '{options.Train}': no usable record" + (skipped > 0 ? $" ({skipped} skipped as invalid)" : ""));
        Report = new JsonlLoadReport(RlPrompts.Count, Demonstrations.Count, HeldOut.Count, skipped, problems);
        if (skipped > 0)
            warn?.Invoke($"task jsonl: skipped {skipped} invalid record(s) (skip-invalid = on); first: {problems[0]}");

        var rules = rewards ?? Config.Empty;
        Config? Settings(string type) => rules.HasPath(type) && rules.GetValue(type).IsObject() ? rules.GetConfig(type) : null;
        _evalRule = VerifiableRewards.Verifier(options.EvalMatch, Settings(options.EvalMatch));
        _exact = VerifiableRewards.Verifier("exact", Settings("exact"));
    }

    public string Name => "jsonl";
    public JsonlTaskOptions Options { get; }
    public JsonlLoadReport Report { get; }
    public IReadOnlyList<Demonstration> Demonstrations { get; }
    public IReadOnlyList<Prompt> RlPrompts { get; }
    public IReadOnlyList<Demonstration> HeldOut { get; }

    /// <summary>Merges come from the training texts (demonstrations, RL prompts and their references), never the held-out split.</summary>
    public IEnumerable<string> TokenizerCorpus
        => Demonstrations.SelectMany(d => new[] { d.Prompt.Text, d.Completion })
            .Concat(RlPrompts.SelectMany(p => PromptFields.ReferencesOf(p).Prepend(p.Text)));

    public IEnumerable<string> TokenizerAlphabet
        => TokenizerCorpus.Concat(HeldOut.SelectMany(d => PromptFields.ReferencesOf(d.Prompt).Prepend(d.Prompt.Text)));

    public IRewardSource CreateRewardSource(string name)
        => throw new ConfigException(
            $"the jsonl task offers no reward source of its own ('{name}'); declare pipeline.rewards.sources.{name} with a registered type: " +
            "exact, regex, numeric, contains, json-schema, remote, similarity, rubric or critic");

    public EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        var tallies = new Dictionary<string, (int Count, int Correct, int Exact)>(StringComparer.Ordinal);
        var all = (Count: 0, Correct: 0, Exact: 0);
        foreach (var (example, prediction) in predictions)
        {
            var prompt = example.Prompt;
            // A verdict that cannot be computed (a reference that is not a number, say) counts as wrong, and shows in the count.
            var correct = _evalRule(prompt, prediction) is { Invalid: null, Value: >= 0.5 } ? 1 : 0;
            var exact = _exact(prompt, prediction) is { Invalid: null, Value: >= 0.5 } ? 1 : 0;
            var slice = prompt.Tag(PromptFields.Slice, TaskRecord.DefaultSlice);
            var t = tallies.GetValueOrDefault(slice);
            tallies[slice] = (t.Count + 1, t.Correct + correct, t.Exact + exact);
            all = (all.Count + 1, all.Correct + correct, all.Exact + exact);
        }
        static EvalScore Score((int Count, int Correct, int Exact) t)
            => new(t.Count, t.Count == 0 ? 0 : t.Correct / (double)t.Count, t.Count == 0 ? 0 : t.Exact / (double)t.Count);
        return new EvalReport(tallies.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => Score(kv.Value)), Score(all));
    }

    /// <summary>
    /// The start-up check: every file exists and every record is well-formed (or skip-invalid is on), read the same
    /// streaming way as a run reads it, before any run folder exists.
    /// </summary>
    public static JsonlLoadReport Validate(JsonlTaskOptions options, Config? rewards = null) => new JsonlPipelineTask(options, rewards).Report;

    private List<T> Load<T>(string path, TaskSplit split, Func<TaskRecord, T> convert, IChatRenderer renderer, Action<TaskFileProblem> onInvalid)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<T>();
        foreach (var (location, record) in TaskFileReader.Read(path, split, Options, renderer, onInvalid))
        {
            if (!ids.Add(record.Id))
            {
                onInvalid(new TaskFileProblem(location, "id", $"'{record.Id}' appears twice in {path}"));
                continue;
            }
            list.Add(convert(record));
        }
        return list;
    }

    public void Dispose() { }
}
