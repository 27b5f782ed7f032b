namespace Pipeline.Core.Configuration;

/// <summary>A configuration problem found at start-up; the CLI exits with code 2 and prints <see cref="Exception.Message"/>.</summary>
public sealed class ConfigException(string message) : Exception(message);
