using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Pipeline.Learning.Checkpoints;

/// <summary>
/// Writes that survive a power loss: file contents are flushed to disk (fsync) before a rename publishes them, and the
/// folder holding the renamed entry is flushed after it, so the rename itself is on disk too.
/// </summary>
public static class DurableFiles
{
    /// <summary>Flushes an existing file's data to disk and returns its size and SHA-256 (lowercase hex).</summary>
    public static (long Size, string Sha256) FlushAndHash(string path)
    {
        // Write access: FileStream.Flush(true) only calls fsync on a writable handle.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 16);
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        stream.Flush(flushToDisk: true);
        return (stream.Length, hash);
    }

    /// <summary>Size and SHA-256 (lowercase hex) of a file, without writing anything.</summary>
    public static (long Size, string Sha256) Hash(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return (stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>Writes <paramref name="bytes"/> to a new file and flushes it to disk.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/> atomically: temporary file, fsync, rename, fsync of the folder.</summary>
    public static void ReplaceAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            WriteAllBytes(tmp, bytes);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// Flushes a folder's entries (creations, renames) to disk. Linux only: .NET has no API for it, and a rename is not
    /// durable until its folder is fsynced; elsewhere (Windows has no such call, macOS needs F_FULLFSYNC) it does nothing.
    /// </summary>
    public static void FlushDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux()) return;
        // O_RDONLY (0) opens a directory on every Linux architecture; O_DIRECTORY's value differs between them.
        var fd = Native.open(dir, 0);
        if (fd < 0) throw new IOException($"could not open folder {dir} to flush it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Native.fsync(fd) != 0) throw new IOException($"could not flush folder {dir} to disk (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            Native.close(fd);
        }
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
