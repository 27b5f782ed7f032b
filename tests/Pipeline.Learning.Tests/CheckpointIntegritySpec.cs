using System.Security.Cryptography;
using System.Text.Json;
using Pipeline.Learning.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

/// <summary>Checkpoints verify themselves: a manifest of sizes and SHA-256s, checked before a checkpoint is trusted.</summary>
[Collection(TorchGlobalStateCollection.Name)]
public sealed class CheckpointIntegritySpec : IDisposable
{
    private readonly string _runDir = Directory.CreateTempSubdirectory("ckpt-integrity-").FullName;
    private readonly List<string> _warnings = [];

    public void Dispose() => Directory.Delete(_runDir, recursive: true);

    private (string Older, string Newer) SaveTwo()
    {
        manual_seed(3);
        using var model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2));
        using var opt = new AdamW(model.parameters(), lr: 1e-2);
        var older = CheckpointStore.Save(_runDir, model, opt, CheckpointMeta.Create(1, 1, "grpo"), keep: 0);
        var newer = CheckpointStore.Save(_runDir, model, opt, CheckpointMeta.Create(2, 2, "grpo"), keep: 0);
        return (older, newer);
    }

    private static void Truncate(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.SetLength(stream.Length / 2);
    }

    [Fact]
    public void Every_file_of_a_checkpoint_is_listed_in_its_manifest_with_size_and_sha256()
    {
        var (_, dir) = SaveTwo();

        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, CheckpointStore.ManifestFile)));
        var files = doc.RootElement.GetProperty("files");
        var onDisk = Directory.GetFiles(dir).Select(Path.GetFileName).Where(f => f != CheckpointStore.ManifestFile).Order().ToArray();
        Assert.Equal(onDisk, files.EnumerateObject().Select(p => p.Name).Order().ToArray());
        Assert.Contains(CheckpointStore.ModelFile, onDisk);
        Assert.Contains(CheckpointStore.MetaFile, onDisk);
        foreach (var entry in files.EnumerateObject())
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, entry.Name));
            Assert.Equal(bytes.Length, entry.Value.GetProperty("size").GetInt64());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), entry.Value.GetProperty("sha256").GetString());
        }
        Assert.Empty(Directory.GetDirectories(Path.Combine(_runDir, "checkpoints"), ".tmp-*"));
    }

    [Fact]
    public void A_truncated_model_file_is_passed_over_for_the_older_intact_checkpoint_with_a_warning_naming_it()
    {
        var (older, newer) = SaveTwo();
        Truncate(Path.Combine(newer, CheckpointStore.ModelFile));

        var latest = CheckpointStore.FindLatest(_runDir, _warnings.Add);

        Assert.Equal(older, latest?.Dir);
        var warning = Assert.Single(_warnings);
        Assert.Contains(newer, warning);
        Assert.Contains(CheckpointStore.ModelFile, warning);
    }

    [Fact]
    public void A_garbage_meta_json_is_passed_over_with_a_warning_not_silently()
    {
        var (older, newer) = SaveTwo();
        File.WriteAllText(Path.Combine(newer, CheckpointStore.MetaFile), "{ this is not json");

        var latest = CheckpointStore.FindLatest(_runDir, _warnings.Add);

        Assert.Equal(older, latest?.Dir);
        var warning = Assert.Single(_warnings);
        Assert.Contains(newer, warning);
        Assert.Contains(CheckpointStore.MetaFile, warning);
    }

    [Fact]
    public void A_file_whose_bytes_changed_but_not_its_size_fails_its_manifest_hash()
    {
        var (_, dir) = SaveTwo();
        var path = Path.Combine(dir, CheckpointStore.OptimizerFile);
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0x5a;
        File.WriteAllBytes(path, bytes);

        var check = CheckpointStore.Check(dir);

        Assert.False(check.Intact);
        Assert.Contains(CheckpointStore.OptimizerFile, check.Problem);
        Assert.Contains("SHA-256", check.Problem);
    }

    [Fact]
    public void A_checkpoint_that_lost_its_manifest_is_broken()
    {
        var (_, dir) = SaveTwo();
        File.Delete(Path.Combine(dir, CheckpointStore.ManifestFile));

        var check = CheckpointStore.Check(dir);

        Assert.False(check.Intact);
        Assert.Contains(CheckpointStore.ManifestFile, check.Problem);
    }

    [Fact]
    public void A_checkpoint_written_before_manifests_loads_with_a_warning_that_it_is_unverified()
    {
        var (_, dir) = SaveTwo();
        // What the old code wrote: format 1, no manifest.
        File.Delete(Path.Combine(dir, CheckpointStore.ManifestFile));
        var meta = Path.Combine(dir, CheckpointStore.MetaFile);
        File.WriteAllText(meta, File.ReadAllText(meta).Replace("\"format\": 2", "\"format\": 1"));

        var latest = CheckpointStore.FindLatest(_runDir, _warnings.Add);

        Assert.Equal(dir, latest?.Dir);
        Assert.Contains("unverified", Assert.Single(_warnings));
    }

    [Fact]
    public void A_truncated_old_checkpoint_without_a_manifest_is_still_found_broken()
    {
        var (older, newer) = SaveTwo();
        foreach (var dir in new[] { older, newer })
        {
            File.Delete(Path.Combine(dir, CheckpointStore.ManifestFile));
            var meta = Path.Combine(dir, CheckpointStore.MetaFile);
            File.WriteAllText(meta, File.ReadAllText(meta).Replace("\"format\": 2", "\"format\": 1"));
        }
        Truncate(Path.Combine(newer, CheckpointStore.ModelFile));

        var latest = CheckpointStore.FindLatest(_runDir, _warnings.Add);

        Assert.Equal(older, latest?.Dir);
        Assert.Contains(_warnings, w => w.Contains(newer) && w.Contains("truncated"));
    }

    [Fact]
    public void Loading_an_unreadable_model_file_names_the_file()
    {
        var (_, dir) = SaveTwo();
        Truncate(Path.Combine(dir, CheckpointStore.ModelFile));
        using var model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2));

        var error = Assert.Throws<InvalidDataException>(() => CheckpointStore.Load(dir, model, null));

        Assert.Contains(Path.Combine(dir, CheckpointStore.ModelFile), error.Message);
    }

    [Fact]
    public void When_every_checkpoint_is_broken_none_is_returned_and_each_is_reported()
    {
        var (older, newer) = SaveTwo();
        Truncate(Path.Combine(older, CheckpointStore.OptimizerFile));
        File.WriteAllText(Path.Combine(newer, CheckpointStore.MetaFile), "garbage");

        Assert.Null(CheckpointStore.FindLatest(_runDir, _warnings.Add));
        Assert.Equal(2, _warnings.Count);
        Assert.Contains(_warnings, w => w.Contains(older) && w.Contains(CheckpointStore.OptimizerFile));
        Assert.Contains(_warnings, w => w.Contains(newer) && w.Contains(CheckpointStore.MetaFile));
    }
}
