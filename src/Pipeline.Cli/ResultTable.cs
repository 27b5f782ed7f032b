using Pipeline.Core.Tasks;
using Pipeline.Runtime.Metrics;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>The closing table: held-out scores per slice (language), after warm-start and after GRPO.</summary>
internal static class ResultTable
{
    public static void Print(EvalReport? warmStart, EvalReport? final)
    {
        var table = new Table().Title("Held-out evaluation (greedy decoding)")
            .AddColumns("slice", "n", "exec acc: warm-start", "exec acc: GRPO", "exact match: warm-start", "exact match: GRPO");
        var slices = (warmStart?.Slices.Keys ?? []).Union(final?.Slices.Keys ?? []).Order(StringComparer.Ordinal);
        foreach (var slice in slices)
        {
            EvalScore? w = warmStart is not null && warmStart.Slices.TryGetValue(slice, out var a) ? a : null;
            EvalScore? f = final is not null && final.Slices.TryGetValue(slice, out var b) ? b : null;
            table.AddRow(slice, (w ?? f)?.Count.ToString() ?? "-", Pct(w?.Accuracy), Pct(f?.Accuracy), Pct(w?.ExactMatch), Pct(f?.ExactMatch));
        }
        table.AddRow("[bold]all[/]", (warmStart ?? final)?.Overall.Count.ToString() ?? "-",
            Pct(warmStart?.Overall.Accuracy), Pct(final?.Overall.Accuracy), Pct(warmStart?.Overall.ExactMatch), Pct(final?.Overall.ExactMatch));
        AnsiConsole.Write(table);
    }

    /// <summary>The share of rollouts masked over the run and each source's invalid share; says so when no GRPO step ran.</summary>
    public static void PrintMasking(RewardMasking? masking)
    {
        if (masking is null)
        {
            AnsiConsole.MarkupLine("Rewards: no GRPO step ran, nothing masked or trained");
            return;
        }
        var colour = masking.MaskedFrac >= 0.5 ? "red" : masking.MaskedFrac > 0 ? "yellow" : "green";
        AnsiConsole.MarkupLine($"Rewards: [{colour}]{Markup.Escape(masking.Describe())}[/]");
    }

    private static string Pct(double? v) => v is { } x ? $"{x:P1}" : "-";
}
