using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Model;
using Pipeline.Learning.Policy;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// When the learner checkpoints, evaluates and stops (<c>pipeline.checkpoint.every-steps</c>, <c>pipeline.eval.every-steps</c>,
/// <c>pipeline.grpo.steps</c>), and where each stage's checkpoints go and how many are kept.
/// </summary>
public sealed class TrainingSchedule(PipelineSettings settings, PolicyFactory policy, string runDir)
{
    /// <summary>GRPO is done after its last step.</summary>
    public bool Finished(long step) => step >= settings.Grpo.Steps;

    /// <summary>A periodic checkpoint; the last step's is written by the finish itself.</summary>
    public bool CheckpointDue(long step) => settings.Checkpoint.EverySteps > 0 && step % settings.Checkpoint.EverySteps == 0 && !Finished(step);

    /// <summary>A periodic evaluation; the last step's is the run's final evaluation.</summary>
    public bool EvaluationDue(long step) => settings.Eval.EverySteps > 0 && step % settings.Eval.EverySteps == 0 && !Finished(step);

    /// <summary>Writes a checkpoint of <paramref name="stage"/> and returns its folder.</summary>
    public string Save(PolicyNetwork network, string stage, long step, long version, long dataCursor,
        TorchSharp.torch.optim.Optimizer? optimizer, WarmStartStage? warmStart)
    {
        // The policy settings travel with the weights, so a resume with a different model shape is refused by name.
        var extra = policy.CheckpointExtras();
        WarmStartStage.AddCheckpointExtras(warmStart, stage, extra);
        var meta = CheckpointMeta.Create(step, version, stage, dataCursor, settings.Seed, null, extra);
        var root = CheckpointStages.Root(runDir, stage);
        var keep = stage == CheckpointStages.WarmStartDone ? 1 : settings.Checkpoint.Keep;
        // With LoRA only the adapters are written (PEFT layout); the frozen base is fingerprinted, not copied.
        return CheckpointStore.Save(root, network, optimizer, meta, keep, policy.AdapterCheckpoint());
    }
}

/// <summary>Stage names stored in checkpoints.</summary>
public static class CheckpointStages
{
    public const string WarmStart = "warm-start";
    public const string WarmStartDone = "warm-start-done";
    public const string Grpo = "grpo";

    /// <summary>Each stage keeps its checkpoints under its own folder, so step numbers of different stages never collide.</summary>
    public static string Root(string runDir, string stage) => stage switch
    {
        WarmStart => Path.Combine(runDir, "warm-start"),
        WarmStartDone => Path.Combine(runDir, "reference"),
        _ => runDir,
    };
}
