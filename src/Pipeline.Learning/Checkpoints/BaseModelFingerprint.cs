using System.Security.Cryptography;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Checkpoints;

/// <summary>
/// The frozen base an adapter-only checkpoint was trained over: the model folder's path and, per file, its size and a
/// SHA-256. config.json and model.safetensors.index.json are hashed whole; a *.safetensors file is hashed over its header
/// (every tensor's name, dtype, shape and offsets) plus its first and last <see cref="SampleBytes"/> bytes, so a check costs
/// milliseconds even for a 7B base yet catches a re-exported, re-sharded or re-trained base.
/// </summary>
/// <param name="Path">The base folder as the run named it (a moved copy with the same files still matches).</param>
/// <param name="Files">File name to fingerprint.</param>
public sealed record BaseModelFingerprint(string Path, Dictionary<string, BaseFileFingerprint> Files)
{
    /// <summary>Bytes read from each end of a weights file beside its header.</summary>
    public const int SampleBytes = 1 << 20;

    /// <summary>Fingerprints the model folder <paramref name="folder"/> (config.json, the index if any, every *.safetensors).</summary>
    public static BaseModelFingerprint Of(string folder)
    {
        var full = System.IO.Path.GetFullPath(folder);
        var files = new Dictionary<string, BaseFileFingerprint>(StringComparer.Ordinal);
        foreach (var name in new[] { "config.json", "model.safetensors.index.json" })
        {
            var path = System.IO.Path.Combine(full, name);
            if (!File.Exists(path)) continue;
            var (size, sha) = DurableFiles.Hash(path);
            files[name] = new BaseFileFingerprint(size, sha);
        }
        if (!files.ContainsKey("config.json")) throw new ConfigException($"base model folder {full} has no config.json");
        foreach (var path in Directory.GetFiles(full, "*.safetensors").Order(StringComparer.Ordinal))
            files[System.IO.Path.GetFileName(path)] = OfWeights(path);
        return new BaseModelFingerprint(full, files);
    }

    /// <summary>
    /// Null when <paramref name="now"/> has the same files as this record, else the first difference, naming the field of
    /// meta.json (<c>baseModel.files["config.json"].sha256</c>) and both values.
    /// </summary>
    public string? DifferenceFrom(BaseModelFingerprint now)
    {
        ArgumentNullException.ThrowIfNull(now);
        foreach (var (name, then) in Files.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var field = $"baseModel.files[\"{name}\"]";
            if (!now.Files.TryGetValue(name, out var current)) return $"{field}: {name} is no longer in {now.Path}";
            if (current.Size != then.Size) return $"{field}.size: recorded {then.Size} bytes, {now.Path} has {current.Size}";
            if (!string.Equals(current.Sha256, then.Sha256, StringComparison.OrdinalIgnoreCase))
                return $"{field}.sha256: recorded {then.Sha256[..12]}..., {now.Path} has {current.Sha256[..12]}...";
        }
        var added = now.Files.Keys.Where(k => !Files.ContainsKey(k)).Order(StringComparer.Ordinal).FirstOrDefault();
        return added is null ? null : $"baseModel.files: {now.Path} has {added}, which the checkpoint's base did not";
    }

    private static BaseFileFingerprint OfWeights(string path)
    {
        using var stream = File.OpenRead(path);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var length = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (length < 8 || stream.Read(prefix) != 8) throw new InvalidDataException($"{path} is shorter than a safetensors header");
        var headerLength = BitConverter.ToInt64(prefix);
        if (headerLength < 0 || headerLength > length - 8) throw new InvalidDataException($"{path}: header length {headerLength} does not fit the file");
        var start = 8 + headerLength;
        // Header, then the first and the last SampleBytes of the tensor data (overlapping for a small file).
        Feed(stream, sha, 0, start);
        var data = length - start;
        Feed(stream, sha, start, Math.Min(SampleBytes, data));
        if (data > SampleBytes) Feed(stream, sha, Math.Max(start + SampleBytes, length - SampleBytes), Math.Min(SampleBytes, data - SampleBytes));
        return new BaseFileFingerprint(length, Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant());
    }

    private static void Feed(FileStream stream, IncrementalHash sha, long offset, long count)
    {
        stream.Position = offset;
        var buffer = new byte[64 * 1024];
        while (count > 0)
        {
            var read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (read == 0) throw new EndOfStreamException($"{stream.Name} ended early");
            sha.AppendData(buffer, 0, read);
            count -= read;
        }
    }
}

/// <summary>One file of a <see cref="BaseModelFingerprint"/>: its size and SHA-256 (for weights: header and both ends).</summary>
public sealed record BaseFileFingerprint(long Size, string Sha256);

/// <summary>
/// What an adapter-only checkpoint needs besides the model: the adapters' config (written as PEFT's adapter_config.json)
/// and the frozen base folder they sit on (recorded, fingerprinted, never copied).
/// </summary>
public sealed record AdapterCheckpoint(Lora.LoraAdapterConfig Config, string BasePath);
