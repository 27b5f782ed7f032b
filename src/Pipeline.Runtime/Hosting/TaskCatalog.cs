using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Tasks.Jsonl;
using Pipeline.Tasks.Spider;
using Pipeline.Tasks.Sql;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// Builds the configured task (pipeline.task.name) from <see cref="TaskRegistry.Shared"/>, where the built-ins are
/// registered: <c>sql</c> (the generated text-to-SQL task), <c>jsonl</c> (users' own JSON Lines / Parquet files) and
/// <c>spider</c> (Spider-format text-to-SQL folders).
/// A user's task registered there from their own assembly is built the same way.
/// </summary>
public static class TaskCatalog
{
    static TaskCatalog()
    {
        // A user may have registered a task of the same name first: theirs wins.
        if (!TaskRegistry.Shared.Contains("sql")) TaskRegistry.Shared.Register("sql", Sql);
        if (!TaskRegistry.Shared.Contains("jsonl")) TaskRegistry.Shared.Register("jsonl", Jsonl, validate: ValidateJsonl);
        if (!TaskRegistry.Shared.Contains("spider")) TaskRegistry.Shared.Register("spider", Spider, validate: ValidateSpider);
    }

    /// <summary>The registry runs read tasks from (the shared one, with the built-ins in it).</summary>
    public static TaskRegistry Registry => TaskRegistry.Shared;

    public static IPipelineTask Create(PipelineSettings settings, string runDir) => Create(settings, runDir, _ => { });

    public static IPipelineTask Create(PipelineSettings settings, string runDir, Action<string> warn)
        => Registry.Create(Context(settings, runDir, warn));

    /// <summary>The task's start-up check (unknown name, missing or malformed data): run before any run folder exists.</summary>
    public static void Validate(PipelineSettings settings) => Registry.Validate(Context(settings, "", _ => { }));

    private static TaskContext Context(PipelineSettings settings, string runDir, Action<string> warn)
        => new(settings, new ConfigBlock(settings.Task.Block, "pipeline.task." + settings.Task.Name, settings.OriginOf), runDir, warn);

    private static IPipelineTask Sql(TaskContext c)
    {
        var sql = c.Settings.Task.Sql;
        var train = sql.SftExamples + sql.RlExamples;
        var options = new SqlDatasetOptions
        {
            Seed = c.Settings.Seed,
            TrainCount = train,
            HeldOutCount = sql.HeldOutExamples,
            SftShare = sql.SftExamples / (double)train,
            RlValues = sql.RlValues == "wide" ? SqlRlValues.Wide : SqlRlValues.Narrow,
            RlTemplates = sql.RlTemplates == "rl-only" ? SqlRlTemplates.RlOnly : SqlRlTemplates.All,
        };
        return new SqlPipelineTask(options, Path.Combine(c.RunDir, "databases"), sql.QueryTimeout, maxResultBytes: sql.MaxResultBytes,
            maxRows: sql.MaxRows, match: new ExecutionMatchOptions(sql.RelativeTolerance), instances: sql.Instances);
    }

    private static IPipelineTask Jsonl(TaskContext c)
        => new JsonlPipelineTask(JsonlTaskOptions.From(c.Block), c.Settings.Rewards.Block, warn: c.Warn);

    private static void ValidateJsonl(TaskContext c)
    {
        var report = JsonlPipelineTask.Validate(JsonlTaskOptions.From(c.Block), c.Settings.Rewards.Block);
        if (c.Settings.WarmStart.Enabled && report.Demonstrations < 2)
            throw new ConfigException(
                $"pipeline.warm-start.enabled = on ({c.Settings.OriginOf("pipeline.warm-start.enabled")}) but the jsonl task has {report.Demonstrations} demonstration(s): " +
                "set pipeline.task.jsonl.demonstrations to a file of at least 2 prompts with completions, or --set warm-start.enabled=off");
    }

    private static IPipelineTask Spider(TaskContext c) => new SpiderPipelineTask(SpiderTaskOptions.From(c.Block), c.Warn);

    private static void ValidateSpider(TaskContext c)
    {
        var report = SpiderPipelineTask.Validate(SpiderTaskOptions.From(c.Block));
        if (c.Settings.WarmStart.Enabled && report.Train < 2)
            throw new ConfigException(
                $"pipeline.warm-start.enabled = on ({c.Settings.OriginOf("pipeline.warm-start.enabled")}) but the spider task has {report.Train} usable training question(s): " +
                "give at least 2, or --set warm-start.enabled=off");
    }
}
