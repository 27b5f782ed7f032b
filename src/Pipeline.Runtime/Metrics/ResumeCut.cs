using System.Text;
using System.Text.Json;
using Pipeline.Learning.Checkpoints;
using Pipeline.Runtime.Actors;

namespace Pipeline.Runtime.Metrics;

/// <summary>
/// Where a resumed run picks its logs up: the rows the checkpoint already accounts for stay, the rest were recorded
/// after it and will be recorded again, so they go. Warm-start rows (keys under <c>sft/</c>, step = epoch) and GRPO-phase
/// rows (step = GRPO step; evaluations of the warm-start at step 0) number their steps separately.
/// </summary>
public sealed record ResumeCut(string Stage, long Step)
{
    public const string WarmStartPrefix = "sft/";

    /// <summary>Whether a row (its metric names and step) was recorded no later than the checkpoint.</summary>
    public bool Keeps(IEnumerable<string> names, long step)
    {
        var warmStartRow = names.Any(n => n.StartsWith(WarmStartPrefix, StringComparison.Ordinal));
        // Mid warm-start: every other row (the warm-start's evaluation, GRPO) was written after the checkpoint.
        if (Stage == CheckpointStages.WarmStart) return warmStartRow && step <= Step;
        // A GRPO checkpoint, or the finished warm-start (step 0): the whole warm-start stays.
        return warmStartRow || step <= Step;
    }

    /// <summary>Cuts metrics.jsonl and the TensorBoard events back to this point; returns a line for the user per file changed.</summary>
    public IReadOnlyList<string> Apply(string runDir)
    {
        var said = new List<string>();
        if (CutJsonl(Path.Combine(runDir, MetricsRecorder.JsonlFile)) is { } jsonl) said.Add(jsonl);
        said.AddRange(TensorBoardEvents.CutBack(Path.Combine(runDir, MetricsRecorder.TensorBoardFolder), this));
        return said;
    }

    /// <summary>Rewrites metrics.jsonl with the rows this cut keeps (atomically); a partial or unreadable line is dropped too.</summary>
    public string? CutJsonl(string path)
    {
        if (!File.Exists(path)) return null;
        var bytes = File.ReadAllBytes(path);
        var kept = new StringBuilder();
        int dropped = 0, unreadable = 0;
        var text = new UTF8Encoding(false).GetString(bytes);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            if (Row(line) is not { } row) { unreadable++; continue; }
            if (!Keeps(row.Names, row.Step)) { dropped++; continue; }
            kept.Append(line).Append('\n');
        }
        if (dropped == 0 && unreadable == 0) return null;
        DurableFiles.ReplaceAtomically(path, new UTF8Encoding(false).GetBytes(kept.ToString()));
        return $"{Path.GetFileName(path)}: cut back to {Stage} step {Step}, dropped {dropped} row(s) recorded after the checkpoint"
               + (unreadable > 0 ? $" and {unreadable} unreadable line(s) (a write cut off by a hard stop)" : "");
    }

    private static (long Step, List<string> Names)? Row(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var step = doc.RootElement.GetProperty("step").GetInt64();
            var names = doc.RootElement.GetProperty("data").EnumerateObject().Select(p => p.Name).ToList();
            return (step, names);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
