using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Core.Tasks;

/// <summary>A prompt with the completion a demonstrator wrote for it (supervised warm-start, held-out references).</summary>
public sealed record Demonstration(Prompt Prompt, string Completion);

/// <summary>Score of one slice of an evaluation (a language, or everything).</summary>
public sealed record EvalScore(int Count, double Accuracy, double ExactMatch);

/// <summary>Held-out evaluation: per slice (for SQL: per language) and overall.</summary>
public sealed record EvalReport(IReadOnlyDictionary<string, EvalScore> Slices, EvalScore Overall);

/// <summary>
/// What the pipeline needs from a task: demonstrations for the warm-start, prompts for RL, a held-out split,
/// reward sources by name and an evaluator. The built-in SQL task and users' own tasks implement it.
/// </summary>
public interface IPipelineTask : IDisposable
{
    string Name { get; }
    IReadOnlyList<Demonstration> Demonstrations { get; }
    IReadOnlyList<Prompt> RlPrompts { get; }
    IReadOnlyList<Demonstration> HeldOut { get; }

    /// <summary>Training texts the tokenizer learns its merges from (never held-out text).</summary>
    IEnumerable<string> TokenizerCorpus { get; }

    /// <summary>Every text the policy may read or write; only its characters join the tokenizer's alphabet.</summary>
    IEnumerable<string> TokenizerAlphabet { get; }

    IRewardSource CreateRewardSource(string name);

    EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions);
}
