using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using TorchSharp;

namespace Pipeline.Runtime.Metrics;

/// <summary>
/// Writes every <see cref="MetricsReport"/> three ways: metrics.jsonl (<c>{"step":N,"data":{...}}</c>),
/// TensorBoard events (tb/), and OpenTelemetry-compatible gauges on the "Pipeline" meter; draws PNG curves when
/// it stops. Also hands each report to the console observer.
/// </summary>
public sealed class MetricsRecorder : ReceiveActor
{
    public const string JsonlFile = "metrics.jsonl";
    public const string TensorBoardFolder = "tb";
    public static readonly Meter Meter = new("Pipeline", "1.0");
    private static readonly ConcurrentDictionary<string, double> Latest = new();
    private static readonly ConcurrentDictionary<string, ObservableGauge<double>> Gauges = new();

    private readonly string _runDir;
    private readonly bool _tensorBoard;
    private readonly bool _plots;
    private readonly Action<MetricsReport>? _observer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private StreamWriter? _jsonl;
    private TorchSharp.Modules.SummaryWriter? _tb;

    public MetricsRecorder(string runDir, bool tensorBoard, bool plots, Action<MetricsReport>? observer)
    {
        _runDir = runDir;
        _tensorBoard = tensorBoard;
        _plots = plots;
        _observer = observer;
        Receive<MetricsReport>(Record);
    }

    public static Props Props(string runDir, bool tensorBoard, bool plots, Action<MetricsReport>? observer)
        => Akka.Actor.Props.Create(() => new MetricsRecorder(runDir, tensorBoard, plots, observer));

    protected override void PreStart()
    {
        _jsonl = new StreamWriter(Path.Combine(_runDir, JsonlFile), append: true, new UTF8Encoding(false)) { AutoFlush = true };
        if (_tensorBoard) _tb = torch.utils.tensorboard.SummaryWriter(Path.Combine(_runDir, TensorBoardFolder), createRunName: false);
    }

    protected override void PostStop()
    {
        _jsonl?.Dispose();
        if (_plots)
        {
            try
            {
                var all = ReadAll(Path.Combine(_runDir, JsonlFile));
                CurvePlots.Write(_runDir, all);
            }
            catch (Exception e)
            {
                _log.Warning("Could not draw curves: {0}", e.Message);
            }
        }
    }

    private void Record(MetricsReport report)
    {
        _jsonl!.WriteLine(ToJson(report));
        foreach (var (name, value) in report.Data)
        {
            if (!double.IsFinite(value)) continue;
            _tb?.add_scalar(name, (float)value, (int)report.Step);
            Latest[name] = value;
            Gauges.GetOrAdd(name, n => Meter.CreateObservableGauge(n.Replace('/', '.'), () => Latest.TryGetValue(n, out var v) ? v : double.NaN));
        }
        _observer?.Invoke(report);
    }

    public static string ToJson(MetricsReport report)
    {
        var sb = new StringBuilder();
        sb.Append("{\"step\":").Append(report.Step.ToString(CultureInfo.InvariantCulture)).Append(",\"data\":{");
        var first = true;
        foreach (var (k, v) in report.Data)
        {
            if (!first) sb.Append(',');
            first = false;
            sb.Append(JsonSerializer.Serialize(k)).Append(':');
            // JSON has no NaN: a value that could not be computed is written as null.
            sb.Append(double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "null");
        }
        return sb.Append("}}").ToString();
    }

    public static List<MetricsReport> ReadAll(string path)
    {
        var result = new List<MetricsReport>();
        if (!File.Exists(path)) return result;
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var data = new Dictionary<string, double>();
            foreach (var p in doc.RootElement.GetProperty("data").EnumerateObject())
                data[p.Name] = p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : double.NaN;
            result.Add(new MetricsReport(doc.RootElement.GetProperty("step").GetInt64(), data));
        }
        return result;
    }
}
