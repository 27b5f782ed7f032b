namespace Pipeline.Core.Protocol;

/// <summary>Marks every message that may cross a node; the cluster serializer binds to this interface.</summary>
public interface IPipelineMessage;
