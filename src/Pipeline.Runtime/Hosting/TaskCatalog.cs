using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Tasks.Sql;

namespace Pipeline.Runtime.Hosting;

/// <summary>Builds the configured task (pipeline.task.name).</summary>
public static class TaskCatalog
{
    public static IPipelineTask Create(PipelineSettings settings, string runDir)
    {
        switch (settings.Task.Name)
        {
            case "sql":
                var sql = settings.Task.Sql;
                var train = sql.SftExamples + sql.RlExamples;
                var options = new SqlDatasetOptions
                {
                    Seed = settings.Seed,
                    TrainCount = train,
                    HeldOutCount = sql.HeldOutExamples,
                    SftShare = sql.SftExamples / (double)train,
                };
                return new SqlPipelineTask(options, Path.Combine(runDir, "databases"), sql.QueryTimeout, maxResultBytes: sql.MaxResultBytes);
            default:
                throw new ConfigException($"pipeline.task.name = '{settings.Task.Name}': unknown task (known: sql)");
        }
    }
}
