using System.Text.RegularExpressions;
using Pipeline.Core.Configuration;

namespace Pipeline.Learning.Lora;

/// <summary>
/// What an adapter set is: rank r, alpha, dropout, the target modules (PEFT's rules: a list entry matches a module
/// whose path is the entry or ends in ".entry"; a single string is a regular expression over the whole path, except
/// all-linear, every attention and MLP projection), and rsLoRA's scaling.
/// </summary>
public sealed record LoraAdapterConfig(int Rank, double Alpha, double Dropout, IReadOnlyList<string> TargetModules, bool UseRslora = false)
{
    /// <summary>The target-modules value that means every adaptable projection.</summary>
    public const string AllLinear = "all-linear";

    /// <summary>Set when target_modules was one string (PEFT's regular-expression form); then <see cref="TargetModules"/> holds it alone.</summary>
    public bool TargetIsPattern { get; init; }

    /// <summary>alpha / r, or alpha / sqrt(r) with rsLoRA, as PEFT's LoraLayer.update_layer.</summary>
    public double Scaling => UseRslora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    public static LoraAdapterConfig From(LoraSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var targets = settings.TargetModules;
        var allLinear = targets.Count == 1 && targets[0] == AllLinear;
        if (!allLinear && targets.Contains(AllLinear))
            throw new ConfigException($"pipeline.policy.lora.target-modules = [{string.Join(", ", targets)}]: all-linear stands alone (it already names every projection)");
        return new LoraAdapterConfig(settings.Rank, settings.Alpha, settings.Dropout, targets) { TargetIsPattern = allLinear };
    }

    /// <summary>Whether the module at <paramref name="path"/> (e.g. <c>model.layers.0.self_attn.q_proj</c>) gets an adapter.</summary>
    public bool Targets(string path)
    {
        if (TargetIsPattern)
            return TargetModules[0] == AllLinear || Regex.IsMatch(path, $"^(?:{TargetModules[0]})$", RegexOptions.CultureInvariant);
        return TargetModules.Any(t => path == t || path.EndsWith("." + t, StringComparison.Ordinal));
    }
}
