using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline experiment table</c>: the seed paper's ablation (contrastive rewards for multilingual text-to-SQL) on our
/// pipeline. For each seed one warm-start, then one GRPO run per row resumed from it with the same budget; held-out execution
/// and exact-match accuracy per language, mean and min-max over the seeds, GRPO wall time and rollouts/s.
/// </summary>
internal static class ExperimentTableCommand
{
    private static readonly Option<int> Seeds = new("--seeds") { Description = "Seeds (pipeline.seed, pipeline.seed + 1, ...); each gets its own warm-start.", DefaultValueFactory = _ => 3 };
    private static readonly Option<int?> Steps = new("--steps") { Description = "GRPO steps of each run (default: the configured grpo.steps)." };
    private static readonly Option<int> CriticLatencyMs = new("--critic-latency-ms") { Description = "Latency of each call to the SIMULATED critic (the critic rows), in ms.", DefaultValueFactory = _ => 50 };

    private const int CriticConcurrency = 4;

    /// <summary>A row of the table: its GRPO overrides (none: the warm-start itself) and whether it calls the critic.</summary>
    internal sealed record Row(string Name, string Rewards, string[] Overrides, bool Critic);

    internal static readonly Row[] Rows =
    [
        new("warm-start only", "-", [], false),
        new("GRPO: execution", "execution", ["rewards=execution"], false),
        new("+ contrastive similarity", "execution, similarity", ["rewards=execution,similarity"], false),
        new("+ rubric", "execution, similarity, rubric", ["rewards=execution,similarity,rubric"], false),
        new("+ critic, synchronous (required)", "execution, critic (required)",
            ["rewards=execution,critic", "rewards.sources.critic.required=on", "rewards.sources.critic.deadline=120s", "rewards.slow-pool.workers=8"], true),
        new("+ critic, ONI", "execution, intrinsic (ONI)", ["oni.enabled=on", "rewards=execution,intrinsic", $"oni.labeller.max-in-flight={CriticConcurrency}"], true),
    ];

    public static Command Create()
    {
        var command = new Command("table", "The seed paper's ablation: warm-start, execution, + similarity, + rubric, + critic (sync, ONI); accuracy per language over seeds.")
        {
            CommonOptions.Config, CommonOptions.Set, CommonOptions.Mode, CommonOptions.HoconDir, Seeds, Steps, CriticLatencyMs,
        };
        command.SetAction((parse, ct) => ExecuteAsync(parse, ct));
        return command;
    }

    /// <summary>One row's outcome for one seed: the held-out report, seconds, rollouts/s (NaN for the warm-start row).</summary>
    internal sealed record Cell(EvalReport? Report, double Seconds, double RolloutsPerSecond);

    private static async Task<int> ExecuteAsync(ParseResult parse, CancellationToken ct)
    {
        var seeds = parse.GetValue(Seeds);
        if (seeds < 1) throw new ConfigException($"--seeds must be at least 1, got {seeds}");
        var steps = parse.GetValue(Steps);
        if (steps is < 1) throw new ConfigException($"--steps must be at least 1, got {steps}");
        var latencyMs = parse.GetValue(CriticLatencyMs);
        if (latencyMs < 0) throw new ConfigException($"--critic-latency-ms must be at least 0, got {latencyMs}");
        var total = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        var baseSettings = CommonOptions.Load(parse);
        var budget = steps ?? baseSettings.Grpo.Steps;
        var root = Path.GetFullPath(Path.Combine(baseSettings.RunDir, ExperimentRuns.FolderName("table")));
        Directory.CreateDirectory(root);
        var seedList = Enumerable.Range(0, seeds).Select(i => baseSettings.Seed + i).ToArray();
        Console.WriteLine($"machine: {ExperimentRuns.Machine()}; runs under {root}");
        const string seedPolicy = "each seed has its own warm-start and its rows resume from it: ResumeChecks does not refuse a changed " +
                                  "pipeline.seed, but the task's data (for the built-in sql task: questions, held-out split and databases) is generated " +
                                  "from pipeline.seed, so a run resumed with another seed would train and evaluate on another task";
        Console.WriteLine($"seeds {string.Join(", ", seedList)}: {seedPolicy}");
        Console.WriteLine($"critic rows: SIMULATED critic at {latencyMs} ms a call, {CriticConcurrency} calls in flight");

        var cells = Rows.Select(_ => new Cell[seeds]).ToArray();
        var oracle = "";
        for (var k = 0; k < seeds; k++)
        {
            var seed = seedList[k];
            var seedDir = Path.Combine(root, $"seed-{seed}");
            var warm = Path.Combine(seedDir, "warm-start");
            string[] seedSet = [$"seed={seed}"];
            var (w, warmSeconds) = await ExperimentRuns.WarmStartAsync(parse, warm, seedSet, $"seed {seed} warm-start", ct);
            cells[0][k] = new Cell(w.WarmStart, warmSeconds, double.NaN);

            string[] common = [.. seedSet, "eval.every-steps=0", $"grpo.steps={budget}"];
            var seedSettings = CommonOptions.Load(parse, seedSet);
            var (server, task, name) = await ExperimentRuns.StartCriticAsync(seedSettings, Path.Combine(seedDir, "critic-sim"), TimeSpan.FromMilliseconds(latencyMs));
            oracle = name;
            await using (server)
            using (task)
            {
                for (var r = 1; r < Rows.Length; r++)
                {
                    var row = Rows[r];
                    string[] overrides = [.. common, .. row.Overrides, .. row.Critic ? ExperimentRuns.CriticOverrides(server, CriticConcurrency) : []];
                    var o = await ExperimentRuns.ResumeAsync(parse, warm, Path.Combine(seedDir, $"row{r}"), overrides, $"seed {seed} {row.Name}", ct);
                    cells[r][k] = new Cell(o.Final, o.GrpoSeconds, o.RolloutsPerSecond);
                }
            }
        }

        var (header, rows) = Layout(cells);
        var title = $"Ablation on task '{baseSettings.Task.Name}': {budget} GRPO steps from each seed's warm-start, {seeds} seed(s); mean [min–max] over seeds";
        ExperimentRuns.WidenRedirectedConsole();
        var table = new Table().Title(Markup.Escape(title));
        foreach (var h in header) table.AddColumn(Markup.Escape(h));
        foreach (var row in rows) table.AddRow([.. row.Select(Markup.Escape)]);
        AnsiConsole.Write(table);
        var findings = Findings(cells);
        foreach (var f in findings) Console.WriteLine(f);

        var plot = ExperimentPlots.RangeBars(Path.Combine(root, "heldout_accuracy.png"), $"Held-out accuracy, all slices ({seeds} seed(s), {budget} GRPO steps)",
            [.. Rows.Select(r => r.Name)],
            [("execution accuracy", [.. cells.Select(c => Spread(c, s => s.Accuracy, null))]), ("exact match", [.. cells.Select(c => Spread(c, s => s.ExactMatch, null))])]);
        var elapsed = total.Elapsed;
        var md = new ExperimentMarkdown("Contrastive-rewards ablation (issue 18, item 2)")
            .Facts("pipeline " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), ExperimentRuns.Machine(), started, elapsed)
            .Bullets([
                $"Task '{baseSettings.Task.Name}'; {budget} GRPO steps per run; seeds {string.Join(", ", seedList)}; {seedPolicy}.",
                "Spread: mean [min–max] over the seeds (a figure a seed did not report is left out and the count said).",
                "Held-out accuracy: greedy decoding on the held-out split, execution accuracy and exact match (\"semantic\"), per language slice and overall.",
                "GRPO wall s: the sum of the learner's step times (timing_s/step); warm-start row: the warm-start's wall time. rollouts/s: rollouts / GRPO wall s.",
                $"Critic rows: SIMULATED critic (critic-sim, {oracle}), {latencyMs} ms a call, {CriticConcurrency} in flight, uncached; synchronous = critic required on every rollout (deadline 120 s), ONI = oni.enabled = on with the configured labeller sampling rate.",
                .. Rows.Skip(1).Select(r => $"{r.Name}: --set {string.Join(" --set ", r.Overrides)}"),
            ])
            .Table(header, rows)
            .Paragraph("**What the data show.** " + string.Join(" ", findings))
            .Table(["row", .. seedList.Select(s => $"seed {s}: exec / exact")],
                Rows.Select((r, i) => (IReadOnlyList<string>)[r.Name, .. cells[i].Select(c => c.Report is { } rep ? $"{rep.Overall.Accuracy:P1} / {rep.Overall.ExactMatch:P1}" : "n/a")]))
            .Paragraph($"Plot: `{Path.GetFileName(plot)}`.");
        var mdPath = Path.Combine(root, "experiment-table.md");
        await File.WriteAllTextAsync(mdPath, md.ToString(), ct);
        Console.WriteLine($"wrote {mdPath} and {plot}");
        Console.WriteLine($"total run time: {ExperimentMarkdown.Duration(elapsed)}");
        return ExitCodes.Ok;
    }

    /// <summary>The slices shown: the "lang:" ones when the task has them (Spider format), else every slice (the sql task slices by language).</summary>
    internal static IReadOnlyList<string> Languages(IEnumerable<EvalReport?> reports)
    {
        var keys = reports.Where(r => r is not null).SelectMany(r => r!.Slices.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var lang = keys.Where(k => k.StartsWith("lang:", StringComparison.Ordinal)).ToList();
        return lang.Count > 0 ? lang : keys;
    }

    /// <summary>The table: a row per ablation row; per language and overall, execution and exact-match accuracy over seeds; wall s and rollouts/s.</summary>
    internal static (string[] Header, List<IReadOnlyList<string>> Rows) Layout(IReadOnlyList<Cell[]> cells)
    {
        var languages = Languages(cells.SelectMany(c => c.Select(x => x.Report)));
        string[] header = ["row", "rewards", .. languages.SelectMany(l => new[] { $"exec {l}", $"exact {l}" }), "exec all", "exact all", "wall s", "rollouts/s"];
        var rows = new List<IReadOnlyList<string>>();
        for (var r = 0; r < cells.Count; r++)
        {
            var c = cells[r];
            rows.Add([Rows[r].Name, Rows[r].Rewards,
                .. languages.SelectMany(l => new[] { Spread(c, s => s.Accuracy, l).Percent(), Spread(c, s => s.ExactMatch, l).Percent() }),
                Spread(c, s => s.Accuracy, null).Percent(), Spread(c, s => s.ExactMatch, null).Percent(),
                SeedSpread.Of([.. c.Select(x => x.Seconds)]).Number("0.0"),
                SeedSpread.Of([.. c.Select(x => x.RolloutsPerSecond)]).Number()]);
        }
        return (header, rows);
    }

    /// <summary>One score over the seeds of a row, for a slice (null: overall); a seed without that slice counts as missing.</summary>
    internal static SeedSpread Spread(IEnumerable<Cell> seeds, Func<EvalScore, double> score, string? slice)
        => SeedSpread.Of([.. seeds.Select(c => c.Report is null ? double.NaN
            : slice is null ? score(c.Report.Overall)
            : c.Report.Slices.TryGetValue(slice, out var s) ? score(s) : double.NaN)]);

    /// <summary>The paper's claim checked on these figures: does + similarity lift exact match ("semantic" accuracy) beyond execution alone?</summary>
    internal static List<string> Findings(IReadOnlyList<Cell[]> cells)
    {
        var lines = new List<string>();
        var exec = Spread(cells[1], s => s.ExactMatch, null);
        var sim = Spread(cells[2], s => s.ExactMatch, null);
        if (exec.N == 0 || sim.N == 0) return ["Exact match is missing for the execution or the similarity row: no comparison."];
        var diff = (sim.Mean - exec.Mean) * 100;
        var overlap = sim.Min <= exec.Max && exec.Min <= sim.Max;
        lines.Add($"Exact match (\"semantic\" accuracy), all slices: execution {exec.Percent()}, + contrastive similarity {sim.Percent()}: " +
                  $"{diff.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture)} points in the mean, " +
                  (exec.N < 2 || sim.N < 2 ? "one seed only, so no spread to judge it against." :
                   overlap ? "and the seeds' ranges overlap, so this does not show a lift." :
                   diff > 0 ? "and the seeds' ranges do not overlap: a lift on these seeds, as the paper claims." : "and the seeds' ranges do not overlap: a drop, against the paper's claim."));
        var warm = Spread(cells[0], s => s.Accuracy, null);
        var grpo = Spread(cells[1], s => s.Accuracy, null);
        lines.Add($"Execution accuracy: warm-start {warm.Percent()}, GRPO with execution {grpo.Percent()}.");
        return lines;
    }
}
