using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Policy;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// A resumed run must build the model its checkpoint was trained as. Checkpoints record the policy settings
/// (<see cref="PolicyFactory.CheckpointExtras"/>); <see cref="RequireSamePolicy"/> refuses a configuration that changes any of them, naming
/// the key, and checks the tensor shapes for checkpoints that predate the record.
/// </summary>
public static class ResumeChecks
{
    /// <summary>
    /// Throws <see cref="ConfigException"/> when the policy of this configuration differs from what the checkpoint in
    /// <paramref name="checkpointDir"/> was trained with (the keys it recorded), or when a tensor of the checkpoint does
    /// not fit the model <paramref name="policy"/> makes.
    /// </summary>
    /// <summary>Keys checkpoints began to record later, with the value every earlier checkpoint implies.</summary>
    private static readonly Dictionary<string, string> RecordedLater = new(StringComparer.Ordinal)
    {
        ["pipeline.policy.positions"] = "learned",
    };

    public static void RequireSamePolicy(PolicyFactory policy, string checkpointDir)
    {
        var meta = CheckpointStore.ReadMeta(checkpointDir);
        foreach (var (key, now) in policy.CheckpointExtras())
        {
            if ((meta.Extra.TryGetValue(key, out var then) || RecordedLater.TryGetValue(key, out then)) && then != now)
                throw new ConfigException($"--resume: {key} is {now} in this configuration but the checkpoint {checkpointDir} was trained with {then}; " +
                                          "a resumed run keeps its model's shape (drop the override, or start a new run)");
        }

        // An adapter-only checkpoint fits only the exact base it was trained over.
        if (meta.BaseModel is not null)
        {
            try
            {
                CheckpointStore.RequireSameBase(checkpointDir, policy.AdapterCheckpoint()?.BasePath);
            }
            catch (ConfigException e)
            {
                throw new ConfigException("--resume: " + e.Message);
            }
        }

        // Checkpoints written before the record: compare the tensors themselves (an adapter checkpoint's under PEFT's names).
        var weightsFile = meta.BaseModel is null ? CheckpointStore.ModelFile : Pipeline.Learning.Lora.PeftAdapterFolder.WeightsFile;
        Dictionary<string, long[]> saved;
        try
        {
            saved = SafetensorsHeader.ReadShapes(Path.Combine(checkpointDir, weightsFile));
            if (meta.BaseModel is not null)
                saved = saved.ToDictionary(kv => kv.Key.StartsWith(Pipeline.Learning.Lora.PeftAdapterFolder.KeyPrefix, StringComparison.Ordinal)
                    ? kv.Key[Pipeline.Learning.Lora.PeftAdapterFolder.KeyPrefix.Length..] : kv.Key, kv => kv.Value, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new ConfigException($"--resume: {Path.Combine(checkpointDir, weightsFile)} is unreadable: {e.Message}");
        }
        var shapes = policy.ParameterShapes();
        foreach (var (name, shape) in shapes)
        {
            if (!saved.TryGetValue(name, out var stored)) continue;
            if (!stored.SequenceEqual(shape))
                throw new ConfigException($"--resume: the checkpoint's {name} has shape [{string.Join(", ", stored)}] but this configuration " +
                                          $"({policy.Describe()}) makes [{string.Join(", ", shape)}]; pipeline.policy.* must match the run's");
        }
        var foreign = saved.Keys.Where(k => !shapes.ContainsKey(k)).Take(3).ToList();
        if (foreign.Count > 0)
            throw new ConfigException($"--resume: the checkpoint {checkpointDir} holds {string.Join(", ", foreign)}, which this configuration's policy " +
                                      $"({policy.Describe()}) does not have; pipeline.policy.source and path must match the run's");
    }
}
