using System.Collections.Concurrent;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Actors;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>Live progress of a run: a Spectre.Console table on a terminal, one plain line per report otherwise.</summary>
internal sealed class ProgressView
{
    private readonly PipelineSettings _settings;
    private readonly bool _live;
    private readonly ConcurrentDictionary<string, double> _latest = new();
    private volatile string _status = "starting";
    private long _step;

    private ProgressView(PipelineSettings settings, bool live)
    {
        _settings = settings;
        _live = live;
    }

    public static ProgressView Create(PipelineSettings settings)
        => new(settings, !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);

    public void Status(string message)
    {
        _status = message;
        if (!_live) Console.WriteLine(message);
    }

    public async Task<RunResult> RunAsync(Func<Action<Core.Protocol.MetricsReport>, Task<RunResult>> run)
    {
        if (!_live) return await run(Plain);

        RunResult result = null!;
        await AnsiConsole.Live(Render()).AutoClear(false).StartAsync(async ctx =>
        {
            var task = run(Remember);
            while (!task.IsCompleted)
            {
                ctx.UpdateTarget(Render());
                await Task.WhenAny(task, Task.Delay(500));
            }
            ctx.UpdateTarget(Render());
            result = await task;
        });
        return result;
    }

    private void Remember(MetricsReport report)
    {
        foreach (var (k, v) in report.Data) _latest[k] = v;
        if (report.Data.ContainsKey("policy/version")) Interlocked.Exchange(ref _step, report.Step);
    }

    private void Plain(MetricsReport r)
    {
        Remember(r);
        var d = r.Data;
        string F(string key, string format = "0.000") => Format(d, key, format);
        if (d.ContainsKey("sft/epoch"))
            Console.WriteLine($"warm-start epoch {F("sft/epoch", "0")}: loss {F("sft/loss", "0.0000")} val {F("sft/val_loss", "0.0000")} ({F("throughput/sft_tokens_per_s", "0")} tokens/s)");
        else if (d.ContainsKey("eval/accuracy"))
            Console.WriteLine($"eval @ step {r.Step}: held-out exec acc {F("eval/accuracy")} exact {F("eval/exact_match")} ({F("timing_s/eval", "0.0")}s)");
        else if (d.ContainsKey("policy/version"))
            Console.WriteLine($"step {r.Step}/{_settings.Grpo.Steps}: reward {F("reward/mean")}±{F("reward/std")} exec {F("reward/execution/mean")} " +
                $"rollouts/s {F("throughput/rollouts_per_s", "0.0")} tokens/s {F("throughput/tokens_per_s", "0")} buffer {F("buffer/depth", "0")} " +
                $"staleness {F("staleness/mean", "0.00")}/{F("staleness/max", "0")} kl {F("actor/kl", "0.0000")}");
    }

    private static string Format(IReadOnlyDictionary<string, double> data, string key, string format)
        => data.TryGetValue(key, out var v) && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

    private Table Render()
    {
        string F(string key, string format = "0.000") => Format(_latest, key, format);
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]pipeline train[/]").AddColumns("", "");
        table.AddRow("status", Markup.Escape(_status));
        table.AddRow("warm-start", $"epoch {F("sft/epoch", "0")}/{_settings.WarmStart.MaxEpochs}  loss {F("sft/loss", "0.0000")}  val {F("sft/val_loss", "0.0000")}");
        table.AddRow("GRPO step", $"{Interlocked.Read(ref _step)}/{_settings.Grpo.Steps}  (policy version {F("policy/version", "0")})");
        table.AddRow("reward", $"{F("reward/mean")} ± {F("reward/std")}  execution {F("reward/execution/mean")}  rubric {F("reward/rubric/mean")}  invalid {F("reward/invalid_frac", "0.00")}");
        table.AddRow("held-out exec acc", $"{F("eval/accuracy")}  exact match {F("eval/exact_match")}");
        table.AddRow("throughput", $"{F("throughput/rollouts_per_s", "0.0")} rollouts/s  {F("throughput/tokens_per_s", "0")} tokens/s");
        table.AddRow("buffer / staleness", $"depth {F("buffer/depth", "0")}  staleness mean {F("staleness/mean", "0.00")} max {F("staleness/max", "0")}");
        table.AddRow("learner", $"kl {F("actor/kl", "0.0000")}  clipfrac {F("actor/pg_clipfrac", "0.000")}  is_ratio {F("is_ratio/mean", "0.000")}  skipped {F("actor/skipped_steps", "0")}");
        return table;
    }
}
