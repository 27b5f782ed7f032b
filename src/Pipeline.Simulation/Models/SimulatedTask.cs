using System.Collections.Immutable;
using System.Globalization;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;

namespace Pipeline.Simulation.Models;

/// <summary>A task of synthetic prompts for the real prompt source; it has no demonstrations, no held-out split and no sources of its own.</summary>
public sealed class SimulatedTask(int prompts) : IPipelineTask
{
    public string Name => "simulated";
    public IReadOnlyList<Demonstration> Demonstrations => [];
    public IReadOnlyList<Prompt> RlPrompts { get; } = Enumerable.Range(0, prompts)
        .Select(i => new Prompt("sim-" + i.ToString(CultureInfo.InvariantCulture), "", null, ImmutableDictionary<string, string>.Empty)).ToList();
    public IReadOnlyList<Demonstration> HeldOut => [];
    public IEnumerable<string> TokenizerCorpus => [];
    public IEnumerable<string> TokenizerAlphabet => [];
    public IRewardSource CreateRewardSource(string name) => throw new NotSupportedException("simulated sources come from the cost model");
    public EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions)
        => throw new NotSupportedException("a simulation does not evaluate");
    public void Dispose() { }
}
