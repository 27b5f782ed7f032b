using Pipeline.Core.Protocol;

namespace Pipeline.Cluster;

/// <summary>
/// One piece of a weight snapshot too large for a remoting frame. <paramref name="Data"/> is bytes
/// [Index * chunkSize, ...) of the encoded snapshot; <paramref name="Checksum"/> is the lower-case SHA-256 hex of the whole
/// encoded snapshot, repeated in every chunk so any chunk can open a transfer. Made by <see cref="WeightChunking.Split"/>,
/// put back together by <see cref="WeightAssembler"/>.
/// </summary>
public sealed record WeightChunk(string TransferId, long Version, int Index, int Count, byte[] Data, string Checksum) : IPipelineMessage;

/// <summary>
/// Published on the weights topic by the learner node's bridge when a new policy version exists: small, so distributed
/// pub-sub carries versions to every node cheaply; each generator node then pulls the newest snapshot, in chunks, straight
/// from the learner node's bridge (and skips versions it has fallen behind on).
/// </summary>
public sealed record WeightsAvailable(long Version) : IPipelineMessage;

/// <summary>
/// A generator node's bridge asks the learner node's bridge, every few seconds, which version it holds; the answer is a
/// <see cref="WeightsAvailable"/> straight back. A safety net under the pub-sub announcements: a node that hears none of
/// them (its subscription not yet spread, a lost message) still finds a newer version within seconds.
/// </summary>
public sealed record WeightsVersionQuery : IPipelineMessage { public static readonly WeightsVersionQuery Instance = new(); }
