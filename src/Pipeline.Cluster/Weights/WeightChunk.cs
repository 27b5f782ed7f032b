using Pipeline.Core.Protocol;
using Pipeline.Learning.Weights;

namespace Pipeline.Cluster;

/// <summary>
/// Opens the stream of one weight version to one node: every tensor's name, shape and dtype, in the order their bytes
/// follow. The bytes come as <see cref="WeightChunk"/>s, one at a time (the next only after the receiver's
/// <see cref="WeightChunkAck"/>), then a <see cref="WeightStreamEnd"/> with the SHA-256 of all of them.
/// </summary>
public sealed record WeightStreamStart(string TransferId, long Version, IReadOnlyList<TensorLayout> Layouts, int ChunkBytes, int Count) : IPipelineMessage;

/// <summary>Bytes [<paramref name="Offset"/>, Offset + Data.Length) of tensor <paramref name="Tensor"/> in its own dtype; chunk <paramref name="Index"/> of the stream.</summary>
public sealed record WeightChunk(string TransferId, int Index, int Tensor, long Offset, byte[] Data) : IPipelineMessage;

/// <summary>The receiver stored chunk <paramref name="Index"/>: the sender reads and sends the next (one chunk in flight per receiver).</summary>
public sealed record WeightChunkAck(string TransferId, int Index) : IPipelineMessage;

/// <summary>Every chunk was sent; <paramref name="Checksum"/> is the lower-case SHA-256 hex of their data in order.</summary>
public sealed record WeightStreamEnd(string TransferId, int Count, string Checksum) : IPipelineMessage;

/// <summary>The sender gave up on the stream (the learner moved on to a newer version mid-stream); the receiver drops what it staged.</summary>
public sealed record WeightStreamAbort(string TransferId, string Reason) : IPipelineMessage;

/// <summary>
/// Published on the weights topic by the learner node's bridge when a new policy version exists: small, so distributed
/// pub-sub carries versions to every node cheaply; each generator node then pulls the newest version, streamed chunk
/// by chunk, straight from the learner node's bridge (and skips versions it has fallen behind on).
/// </summary>
public sealed record WeightsAvailable(long Version) : IPipelineMessage;

/// <summary>
/// A generator node's bridge asks the learner node's bridge, every few seconds, which version it holds; the answer is a
/// <see cref="WeightsAvailable"/> straight back. A safety net under the pub-sub announcements: a node that hears none of
/// them (its subscription not yet spread, a lost message) still finds a newer version within seconds.
/// </summary>
public sealed record WeightsVersionQuery : IPipelineMessage { public static readonly WeightsVersionQuery Instance = new(); }
