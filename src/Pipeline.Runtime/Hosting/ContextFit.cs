using Pipeline.Core.Configuration;
using Pipeline.Core.Tasks;
using Pipeline.Learning.Tokenization;

namespace Pipeline.Runtime.Hosting;

/// <summary>How many of a task's texts fit the policy's context, once the tokenizer exists.</summary>
public sealed record ContextFitReport(int Context, int DemonstrationsFit, int Demonstrations, int PromptsFit, int Prompts, int LongestPrompt, int LongestDemonstration);

/// <summary>
/// The start-up check that the policy's context holds the task: a warm-start needs at least 2 demonstrations
/// (prompt plus completion) that fit, and RL needs prompts that leave room for at least one completion token. A task whose
/// texts mostly do not fit (long database schemas with the default context, say) stops before any actor starts, naming
/// pipeline.policy.context and the lengths it would need, instead of failing mid-run; a few that do not fit are reported.
/// </summary>
public static class ContextFit
{
    public static ContextFitReport Measure(IPipelineTask task, IPolicyTokenizer tokenizer, int context)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(tokenizer);
        int demosFit = 0, promptsFit = 0, longestPrompt = 0, longestDemo = 0;
        foreach (var d in task.Demonstrations)
        {
            var length = tokenizer.EncodePrompt(d.Prompt).Length + tokenizer.Encode(d.Completion).Length + 1; // + eos
            longestDemo = Math.Max(longestDemo, length);
            if (length <= context) demosFit++;
        }
        foreach (var p in task.RlPrompts)
        {
            var length = tokenizer.EncodePrompt(p).Length;
            longestPrompt = Math.Max(longestPrompt, length);
            if (length < context) promptsFit++;
        }
        return new ContextFitReport(context, demosFit, task.Demonstrations.Count, promptsFit, task.RlPrompts.Count, longestPrompt, longestDemo);
    }

    /// <exception cref="ConfigException">Fewer than 2 demonstrations fit while the warm-start is on, or no RL prompt fits.</exception>
    public static ContextFitReport Check(IPipelineTask task, IPolicyTokenizer tokenizer, int context, bool warmStart, Action<string>? warn)
    {
        var r = Measure(task, tokenizer, context);
        var advice = $"raise pipeline.policy.context (the longest demonstration is {r.LongestDemonstration} tokens, the longest prompt {r.LongestPrompt}; " +
                     "the built-in policy takes long contexts with pipeline.policy.positions = rotary) or shorten the prompts";
        if (warmStart && r.Demonstrations > 0 && r.DemonstrationsFit < 2)
            throw new ConfigException($"pipeline.policy.context = {context}: only {r.DemonstrationsFit} of {r.Demonstrations} demonstrations fit (the warm-start needs 2); {advice}");
        if (r.Prompts > 0 && r.PromptsFit == 0)
            throw new ConfigException($"pipeline.policy.context = {context}: none of the {r.Prompts} RL prompts leaves room for a completion; {advice}");
        if (r.PromptsFit < r.Prompts)
            warn?.Invoke($"{r.Prompts - r.PromptsFit} of {r.Prompts} RL prompts do not fit pipeline.policy.context = {context} (longest {r.LongestPrompt} tokens): their groups will be released, counted, and re-issued once");
        if (warmStart && r.DemonstrationsFit < r.Demonstrations)
            warn?.Invoke($"{r.Demonstrations - r.DemonstrationsFit} of {r.Demonstrations} demonstrations do not fit pipeline.policy.context = {context} and are left out of the warm-start");
        return r;
    }
}
