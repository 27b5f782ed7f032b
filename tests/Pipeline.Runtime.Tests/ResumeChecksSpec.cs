using Pipeline.Core.Configuration;
using Pipeline.Learning.Checkpoints;
using Pipeline.Learning.Policy;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Runtime.Tests;

/// <summary>A resume that would change the model's shape is refused by name, before any weight is loaded.</summary>
public sealed class ResumeChecksSpec : IDisposable
{
    private readonly string _runDir = Directory.CreateTempSubdirectory("resume-checks-").FullName;

    public void Dispose() => Directory.Delete(_runDir, recursive: true);

    private static readonly PolicySettings Trained = new(VocabSize: 64, DModel: 64, Layers: 1, Heads: 2, Context: 16);

    private static PolicyFactory Config(PolicySettings p) => PolicyFactory.Builtin(p, p.VocabSize);

    private string Save(bool recordPolicy)
    {
        var policy = Config(Trained);
        using var model = policy.Create(1);
        var extra = recordPolicy ? policy.CheckpointExtras() : new Dictionary<string, string>();
        return CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(3, 3, "grpo", extra: extra), keep: 0);
    }

    [Theory]
    [InlineData("d-model")]
    [InlineData("layers")]
    [InlineData("heads")]
    [InlineData("context")]
    [InlineData("vocab-size")]
    [InlineData("positions")]
    public void A_changed_policy_key_is_refused_naming_the_key_and_both_values(string key)
    {
        var dir = Save(recordPolicy: true);
        var changed = key switch
        {
            "d-model" => Trained with { DModel = 128 },
            "layers" => Trained with { Layers = 2 },
            "heads" => Trained with { Heads = 4 },
            "context" => Trained with { Context = 32 },
            "positions" => Trained with { Positions = "rotary" },
            _ => Trained with { VocabSize = 96 },
        };

        var error = Assert.Throws<ConfigException>(() => ResumeChecks.RequireSamePolicy(Config(changed), dir));

        Assert.Contains($"pipeline.policy.{key} is ", error.Message);
        Assert.Contains("in this configuration but the checkpoint", error.Message);
    }

    [Fact]
    public void The_message_gives_both_values()
    {
        var dir = Save(recordPolicy: true);
        var error = Assert.Throws<ConfigException>(() =>
            ResumeChecks.RequireSamePolicy(Config(Trained with { DModel = 128 }), dir));
        Assert.StartsWith("--resume: pipeline.policy.d-model is 128 in this configuration but the checkpoint", error.Message);
        Assert.Contains("was trained with 64", error.Message);
    }

    [Fact]
    public void An_older_checkpoint_without_the_record_is_refused_by_its_tensor_shapes()
    {
        var dir = Save(recordPolicy: false);
        var changed = Trained with { DModel = 128 };

        var error = Assert.Throws<ConfigException>(() => ResumeChecks.RequireSamePolicy(Config(changed), dir));

        Assert.Contains("has shape [", error.Message);
    }

    [Fact]
    public void A_checkpoint_from_before_positions_were_recorded_counts_as_learned_positions()
    {
        // Earlier checkpoints recorded the other policy keys but not positions: they were all learned.
        var policy = Config(Trained);
        using var model = policy.Create(1);
        var extra = policy.CheckpointExtras();
        extra.Remove("pipeline.policy.positions");
        var dir = CheckpointStore.Save(_runDir, model, null, CheckpointMeta.Create(3, 3, "grpo", extra: extra), keep: 0);

        ResumeChecks.RequireSamePolicy(Config(Trained), dir);
        var error = Assert.Throws<ConfigException>(() => ResumeChecks.RequireSamePolicy(Config(Trained with { Positions = "rotary" }), dir));
        Assert.Contains("pipeline.policy.positions is rotary in this configuration", error.Message);
        Assert.Contains("was trained with learned", error.Message);
    }

    [Fact]
    public void The_same_policy_passes()
    {
        var dir = Save(recordPolicy: true);
        ResumeChecks.RequireSamePolicy(Config(Trained), dir);
    }
}
