using Pipeline.Core.Protocol;

namespace Pipeline.Cluster;

/// <summary>
/// One piece of a weight snapshot too large for a remoting frame. <paramref name="Data"/> is bytes
/// [Index * chunkSize, ...) of the encoded snapshot; <paramref name="Checksum"/> is the lower-case SHA-256 hex of the whole
/// encoded snapshot, repeated in every chunk so any chunk can open a transfer. Made by <see cref="WeightChunking.Split"/>,
/// put back together by <see cref="WeightAssembler"/>.
/// </summary>
public sealed record WeightChunk(string TransferId, long Version, int Index, int Count, byte[] Data, string Checksum) : IPipelineMessage;
