using System.Text.Json;
using Pipeline.Core.Tasks;

namespace Pipeline.Runtime.Metrics;

/// <summary>Held-out scores as JSON in the run folder, so a resumed run still knows its warm-start baseline.</summary>
public static class EvalReportFile
{
    private sealed record FileShape(long PolicyVersion, EvalScore Overall, Dictionary<string, EvalScore> Slices);

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public static void Write(string path, EvalReport report, long policyVersion)
        => File.WriteAllText(path, JsonSerializer.Serialize(new FileShape(policyVersion, report.Overall, report.Slices.ToDictionary()), Options));

    public static EvalReport? Read(string path)
    {
        if (!File.Exists(path)) return null;
        var shape = JsonSerializer.Deserialize<FileShape>(File.ReadAllText(path));
        return shape is null ? null : new EvalReport(shape.Slices, shape.Overall);
    }
}
