using Akka.Configuration;
using Pipeline.Core.Configuration;

namespace Pipeline.Core.Tasks;

/// <summary>
/// What a task factory gets: the validated settings, its own block (pipeline.task.&lt;name&gt;, read through
/// <see cref="Block"/> so errors name the key and the file that set it), the run folder and a warning sink.
/// </summary>
public sealed record TaskContext(PipelineSettings Settings, ConfigBlock Block, string RunDir, Action<string> Warn);

/// <summary>
/// Tasks by name (pipeline.task.name). The built-ins (sql, jsonl) are registered by the host (TaskCatalog); a user
/// registers their own task from their own assembly before settings are loaded:
/// <code>TaskRegistry.Shared.Register("my-task", c => new MyTask(c.Block.Str("path", "")), defaults: "path = \"\"");</code>
/// <paramref name="defaults"/> of <see cref="Register"/> is the HOCON inside pipeline.task.&lt;name&gt;: its keys join the known
/// keys, so a user's pipeline.task.my-task.* is validated (a typo is refused) like every built-in key.
/// </summary>
public sealed class TaskRegistry
{
    private sealed record Entry(Func<TaskContext, IPipelineTask> Factory, Config Defaults, Action<TaskContext>? Validate);

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The process-wide registry that the settings loader (its known keys) and the task catalog (its factories) read.</summary>
    public static TaskRegistry Shared { get; } = new();

    /// <param name="name">The value of pipeline.task.name; a plain word (letters, digits, '-', '_').</param>
    /// <param name="factory">Builds the task for a run; throw <see cref="ConfigException"/> for bad settings or data.</param>
    /// <param name="defaults">HOCON for the keys under pipeline.task.&lt;name&gt; (null: none, or declared in defaults.conf).</param>
    /// <param name="validate">Start-up check run before any run folder exists (files present, data well-formed).</param>
    public TaskRegistry Register(string name, Func<TaskContext, IPipelineTask> factory, string? defaults = null, Action<TaskContext>? validate = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw new ArgumentException($"task name '{name}' must be a plain word (letters, digits, '-', '_'): it is a HOCON key", nameof(name));
        Config block;
        try
        {
            block = string.IsNullOrWhiteSpace(defaults) ? Config.Empty
                : ConfigurationFactory.ParseString($"pipeline.task.{name} {{\n{defaults}\n}}");
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            throw new ArgumentException($"task '{name}': its defaults are not HOCON: {e.Message}", nameof(defaults), e);
        }
        lock (_gate) _entries[name] = new Entry(factory, block, validate);
        return this;
    }

    public bool Contains(string name)
    {
        lock (_gate) return _entries.ContainsKey(name);
    }

    public IReadOnlyList<string> Names
    {
        get { lock (_gate) return _entries.Keys.Order(StringComparer.Ordinal).ToList(); }
    }

    /// <summary>Every registered task's defaults, rooted at pipeline.task.&lt;name&gt;: the settings loader's extra known keys.</summary>
    public IReadOnlyList<Config> Defaults
    {
        get { lock (_gate) return _entries.Values.Where(e => !e.Defaults.IsEmpty).Select(e => e.Defaults).ToList(); }
    }

    /// <summary>Runs the task's start-up check (if it has one).</summary>
    /// <exception cref="ConfigException">Unknown task, or the check's own.</exception>
    public void Validate(TaskContext context) => Get(context.Settings).Validate?.Invoke(context);

    /// <exception cref="ConfigException">Unknown task, or the factory's own.</exception>
    public IPipelineTask Create(TaskContext context) => Get(context.Settings).Factory(context);

    private Entry Get(PipelineSettings settings)
    {
        var name = settings.Task.Name;
        lock (_gate)
        {
            if (_entries.TryGetValue(name, out var entry)) return entry;
        }
        throw new ConfigException(
            $"pipeline.task.name = '{name}' ({settings.OriginOf("pipeline.task.name")}): unknown task (known: {string.Join(", ", Names)}); " +
            "a task from your own assembly must be registered with TaskRegistry.Shared.Register before settings are loaded");
    }
}
