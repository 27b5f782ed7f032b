namespace Pipeline.Core.Protocol;

/// <summary>One row of the metrics log: <c>{"step":N,"data":{...}}</c>; names follow veRL/OpenRLHF (reward/mean, timing_s/gen, ...).</summary>
public sealed record MetricsReport(long Step, IReadOnlyDictionary<string, double> Data) : IPipelineMessage;
