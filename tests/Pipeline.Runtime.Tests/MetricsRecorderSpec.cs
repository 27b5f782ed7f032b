using System.Globalization;
using System.Text.Json;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Metrics;

namespace Pipeline.Runtime.Tests;

public sealed class MetricsRecorderSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("metrics-spec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ToJson_must_write_step_and_data_with_NaN_as_null()
    {
        var report = new MetricsReport(12, new Dictionary<string, double>
        {
            ["reward/mean"] = 0.25,
            ["reward/exec/mean"] = double.NaN,
            ["loss/pg"] = double.PositiveInfinity,
        });

        var json = MetricsRecorder.ToJson(report);

        Assert.Equal("{\"step\":12,\"data\":{\"reward/mean\":0.25,\"reward/exec/mean\":null,\"loss/pg\":null}}", json);
    }

    [Fact]
    public void ToJson_must_use_the_invariant_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
        try
        {
            var json = MetricsRecorder.ToJson(new MetricsReport(1, new Dictionary<string, double> { ["lr"] = 1.5e-6, ["x"] = -0.5 }));

            using var doc = JsonDocument.Parse(json);
            Assert.Equal(1.5e-6, doc.RootElement.GetProperty("data").GetProperty("lr").GetDouble());
            Assert.Equal(-0.5, doc.RootElement.GetProperty("data").GetProperty("x").GetDouble());
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void ReadAll_must_round_trip_what_ToJson_wrote()
    {
        var reports = new[]
        {
            new MetricsReport(0, new Dictionary<string, double> { ["reward/mean"] = 0.1 + 0.2, ["reward/std"] = double.NaN }),
            new MetricsReport(1, new Dictionary<string, double> { ["timing_s/gen"] = 1e-300, ["big"] = 1.7976931348623157e308, ["say \"hi\""] = -3 }),
            new MetricsReport(long.MaxValue, new Dictionary<string, double>()),
        };
        var path = Path.Combine(_dir, "metrics.jsonl");
        File.WriteAllLines(path, reports.Select(MetricsRecorder.ToJson).Append(""));

        var read = MetricsRecorder.ReadAll(path);

        Assert.Equal(reports.Length, read.Count);
        foreach (var (expected, actual) in reports.Zip(read))
        {
            Assert.Equal(expected.Step, actual.Step);
            Assert.Equal(expected.Data.Keys.Order(), actual.Data.Keys.Order());
            foreach (var (k, v) in expected.Data)
                Assert.Equal(v, actual.Data[k]); // bit-exact ("R"), and NaN equals NaN for xunit
        }
    }

    [Fact]
    public void ReadAll_must_return_nothing_for_a_missing_file()
        => Assert.Empty(MetricsRecorder.ReadAll(Path.Combine(_dir, "absent.jsonl")));
}
