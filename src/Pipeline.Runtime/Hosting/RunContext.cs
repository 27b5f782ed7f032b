using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Policy;
using Pipeline.Learning.Tokenization;
using Pipeline.Learning.Weights;
using Pipeline.Runtime.Actors;

namespace Pipeline.Runtime.Hosting;

/// <summary>
/// What every placement of one run shares: the settings, the run folder, the policy tokenizer and factory, and (once
/// known) the resume point and the frozen KL reference. Local mode opens one for its single ActorSystem; cluster mode
/// opens one on the learner node and joins one on each generator node; <see cref="RoleBuilders"/> take it.
/// </summary>
public sealed record RunContext(PipelineSettings Settings, string RunDir, IPolicyTokenizer Tokenizer, PolicyFactory Policy)
{
    /// <summary>The checkpoint the run resumes from; null for a fresh run.</summary>
    public Learner.ResumePoint? Resume { get; init; }

    /// <summary>The frozen KL reference (the finished warm-start) of a resumed run; null when the warm-start has not finished.</summary>
    public WeightSnapshot? Reference { get; init; }

    /// <summary>Cancelled with the run's Interrupt, so long synchronous work (a warm-start epoch, an evaluation) stops within a batch.</summary>
    public CancellationToken Interrupt { get; init; }

    /// <summary>How this placement runs time (<see cref="RunClock.Real"/> but in a simulation).</summary>
    public RunClock Clock { get; init; } = RunClock.Real;

    /// <summary>Makes a generator's sampler from its id and seed (a simulation's cost model); null: each generator samples its policy.</summary>
    public Func<string, long, Generator.IGroupSampler>? Samplers { get; init; }

    /// <summary>The simulation placement's context: its synthetic tokenizer, no task files; the policy factory is built but no model is created.</summary>
    public static RunContext Simulated(PipelineSettings settings, string runDir, IPolicyTokenizer tokenizer)
        => WithPolicy(settings, runDir, tokenizer);

    /// <summary>
    /// The run's context where its tokenizer is made: the run folder's tokenizer when <paramref name="reuseTokenizer"/>
    /// and it has one, else one trained (or read from the model folder) for <paramref name="task"/> and saved there.
    /// </summary>
    public static RunContext Open(PipelineSettings settings, string runDir, IPipelineTask task, bool reuseTokenizer)
        => WithPolicy(settings, runDir, RunTokenizer.Obtain(settings, task, runDir, reuseTokenizer));

    /// <summary>The run's context where the tokenizer is only read (generator nodes): from the run folder, which must hold it.</summary>
    public static RunContext Join(PipelineSettings settings, string runDir)
        => WithPolicy(settings, runDir, RunTokenizer.Load(settings, runDir));

    private static RunContext WithPolicy(PipelineSettings settings, string runDir, IPolicyTokenizer tokenizer)
        => new(settings, runDir, tokenizer, PolicyFactory.From(settings.Policy, tokenizer, settings.Device));

    /// <summary>This context resuming from <paramref name="resume"/>, with the run folder's KL reference when it has one.</summary>
    public RunContext ResumingFrom(Learner.ResumePoint? resume)
        => this with { Resume = resume, Reference = resume is null ? null : LocalRun.LoadReference(RunDir, Policy, Settings.Seed) };
}
