using System.Collections.Immutable;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Runtime.Tests;

/// <summary>
/// pipeline.task.name is open to registered tasks: one registered here, from the test assembly, with its own settings
/// block, is validated and built like the built-ins, without editing the project.
/// </summary>
public class TaskRegistrySpec : IDisposable
{
    /// <summary>A user's task: a few greetings as prompts; its settings come from pipeline.task.greetings.</summary>
    private sealed class GreetingTask(string greeting, int count) : IPipelineTask
    {
        public string Name => "greetings";
        public IReadOnlyList<Demonstration> Demonstrations { get; } = [];
        public IReadOnlyList<Prompt> RlPrompts { get; } = Enumerable.Range(0, count)
            .Select(i => new Prompt($"g{i}", $"{greeting} #{i}", greeting, ImmutableDictionary<string, string>.Empty)).ToList();
        public IReadOnlyList<Demonstration> HeldOut { get; } = [];
        public IEnumerable<string> TokenizerCorpus => RlPrompts.Select(p => p.Text);
        public IEnumerable<string> TokenizerAlphabet => TokenizerCorpus;
        public IRewardSource CreateRewardSource(string name) => throw new ConfigException($"no '{name}'");
        public EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions) => new(new Dictionary<string, EvalScore>(), new(0, 0, 0));
        public void Dispose() { }
    }

    static TaskRegistrySpec()
    {
        TaskRegistry.Shared.Register("greetings",
            c =>
            {
                var count = c.Block.Int("count", 1);
                if (count < 1) throw c.Block.Error("count", count, "must be at least 1");
                return new GreetingTask(c.Block.Str("greeting", "hi"), count);
            },
            defaults: """
                      # What each prompt says.
                      greeting = hello
                      count = 3
                      """);
    }

    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-tasks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PipelineSettings Load(params string[] overrides) => PipelineSettings.Load(_dir, "local", null, overrides);

    [Fact]
    public void A_task_registered_from_another_assembly_is_built_with_its_own_settings()
    {
        var settings = SettingsValidation.Check(Load("task.name=greetings", "task.greetings.count=5", "warm-start.enabled=off"));
        using var task = TaskCatalog.Create(settings, _dir);
        Assert.Equal("greetings", task.Name);
        Assert.Equal(5, task.RlPrompts.Count);
        Assert.Equal("hello #4", task.RlPrompts[4].Text);
    }

    [Fact]
    public void A_registered_tasks_keys_are_validated_like_built_in_keys()
    {
        var typo = Assert.Throws<ConfigException>(() => Load("task.name=greetings", "task.greetings.cuont=5"));
        Assert.Contains("unknown key 'pipeline.task.greetings.cuont'", typo.Message);
        Assert.Contains("did you mean 'pipeline.task.greetings.count'", typo.Message);

        var bad = Load("task.name=greetings", "task.greetings.count=0");
        var e = Assert.Throws<ConfigException>(() => TaskCatalog.Create(bad, _dir));
        Assert.Contains("pipeline.task.greetings.count = '0' in --set task.greetings.count=0: must be at least 1", e.Message);
    }

    [Fact]
    public void An_unknown_task_is_refused_at_start_up_listing_the_registered_ones()
    {
        var e = Assert.Throws<ConfigException>(() => SettingsValidation.Check(Load("task.name=spidr")));
        Assert.Contains("pipeline.task.name = 'spidr' (--set task.name=spidr): unknown task", e.Message);
        Assert.Contains("greetings", e.Message);
        Assert.Contains("jsonl", e.Message);
        Assert.Contains("sql", e.Message);
    }

    [Fact]
    public void A_malformed_jsonl_file_is_refused_at_start_up_naming_file_line_and_field()
    {
        var train = Path.Combine(_dir, "train.jsonl");
        File.WriteAllLines(train, ["""{"prompt": "1+1?", "reference": "2"}""", """{"prompt": ["1+1?"]}"""]);
        var e = Assert.Throws<ConfigException>(() => SettingsValidation.Check(
            Load("task.name=jsonl", $"task.jsonl.train=\"{train}\"", "warm-start.enabled=off", "rewards=numeric")));
        Assert.Contains($"{train}:2: field 'prompt': expected text or a number", e.Message);
    }

    [Fact]
    public void A_jsonl_task_without_demonstrations_asks_for_them_or_warm_start_off()
    {
        var train = Path.Combine(_dir, "train.jsonl");
        File.WriteAllLines(train, ["""{"prompt": "1+1?", "reference": "2"}"""]);
        var e = Assert.Throws<ConfigException>(() => SettingsValidation.Check(Load("task.name=jsonl", $"task.jsonl.train=\"{train}\"", "rewards=numeric")));
        Assert.Contains("pipeline.task.jsonl.demonstrations", e.Message);
        Assert.Contains("warm-start.enabled=off", e.Message);
    }

    [Fact]
    public void The_verifiable_and_remote_reward_types_are_registered_and_checked_at_start_up()
    {
        var registry = BuiltInRewardSources.Registry();
        foreach (var type in new[] { "exact", "regex", "numeric", "contains", "json-schema", "remote" }) Assert.True(registry.Contains(type), type);
        var e = Assert.Throws<ConfigException>(() => SettingsValidation.Check(Load("rewards=remote")));
        Assert.Contains("pipeline.rewards.remote.url", e.Message);
    }
}
