using System.Globalization;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Model;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// A resumed run must build the model its checkpoint was trained as. Checkpoints record the policy settings
/// (<see cref="PolicyExtra"/>); <see cref="RequireSamePolicy"/> refuses a configuration that changes any of them, naming
/// the key, and checks the tensor shapes for checkpoints that predate the record.
/// </summary>
public static class ResumeChecks
{
    private const string Prefix = "pipeline.policy.";

    /// <summary>The policy settings as checkpoint extras (<c>pipeline.policy.d-model</c> = "128", ...).</summary>
    public static Dictionary<string, string> PolicyExtra(PolicySettings p) => new(StringComparer.Ordinal)
    {
        [Prefix + "vocab-size"] = Text(p.VocabSize),
        [Prefix + "d-model"] = Text(p.DModel),
        [Prefix + "layers"] = Text(p.Layers),
        [Prefix + "heads"] = Text(p.Heads),
        [Prefix + "context"] = Text(p.Context),
    };

    /// <summary>
    /// Throws <see cref="ConfigException"/> when <paramref name="settings"/> (the configuration resumed with) differs
    /// from what the checkpoint in <paramref name="checkpointDir"/> was trained with, or when a tensor of the checkpoint
    /// does not fit the model <paramref name="policy"/> describes.
    /// </summary>
    public static void RequireSamePolicy(PolicySettings settings, PolicyConfig policy, string checkpointDir)
    {
        var meta = CheckpointStore.ReadMeta(checkpointDir);
        foreach (var (key, now) in PolicyExtra(settings))
        {
            if (meta.Extra.TryGetValue(key, out var then) && then != now)
                throw new ConfigException($"--resume: {key} is {now} in this configuration but the checkpoint {checkpointDir} was trained with {then}; " +
                                          "a resumed run keeps its model's shape (drop the override, or start a new run)");
        }

        // Checkpoints written before the record: compare the tensors themselves.
        Dictionary<string, long[]> saved;
        try
        {
            saved = SafetensorsHeader.ReadShapes(Path.Combine(checkpointDir, CheckpointStore.ModelFile));
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new ConfigException($"--resume: {Path.Combine(checkpointDir, CheckpointStore.ModelFile)} is unreadable: {e.Message}");
        }
        using var model = new PolicyModel(policy, 0);
        foreach (var (name, tensor) in model.state_dict())
        {
            if (!saved.TryGetValue(name, out var shape)) continue;
            if (!shape.SequenceEqual(tensor.shape))
                throw new ConfigException($"--resume: the checkpoint's {name} has shape [{string.Join(", ", shape)}] but this configuration " +
                                          $"(d-model {settings.DModel}, layers {settings.Layers}, heads {settings.Heads}, context {settings.Context}, vocabulary {policy.VocabSize}) " +
                                          $"makes [{string.Join(", ", tensor.shape)}]; {Prefix}* must match the run's");
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
