namespace Pipeline.Cluster.Tests;

/// <summary>
/// Issue 17's acceptance, read from the source: local mode (RunSupervisor, LocalRun) and cluster mode (Pipeline.Cluster)
/// build no actor settings of their own; each is built in one place in Pipeline.Runtime/Hosting, which both call.
/// </summary>
public class OneWiringSpec
{
    /// <summary>What builds an actor's settings (or the run's tokenizer and policy), and the one file allowed to.</summary>
    public static TheoryData<string, string> Constructions => new()
    {
        { "new SamplingSettings(", "RoleBuilders.cs" },
        { "Generator.Settings(", "RoleBuilders.cs" },
        { "ReplayBuffer.Settings.For(", "RoleBuilders.cs" },
        { "PromptSource.Props(", "RoleBuilders.cs" },
        { "AnnotationStage.Props(", "RoleBuilders.cs" },
        { "new RewardComposer(", "RoleBuilders.cs" },
        { "Learner.Settings(", "RoleBuilders.cs" },
        { "Evaluator.Settings(", "RoleBuilders.cs" },
        { "MetricsRecorder.Props(", "RoleBuilders.cs" },
        { "RewardModelTrainer.Props(", "RoleBuilders.cs" },
        { "CriticLabeller.Props(", "RoleBuilders.cs" },
        { "RewardModelSubscriber.Props(", "RoleBuilders.cs" },
        { "MaxStaleness + 2", "RoleBuilders.cs" },
        { "PolicyFactory.CreateTokenizer(", "RunTokenizer.cs" },
        { "PolicyFactory.LoadTokenizer(", "RunTokenizer.cs" },
        { "PolicyFactory.From(", "RunContext.cs" },
    };

    private static IEnumerable<string> WiringFiles()
        => Directory.GetFiles(RepoRoot.Combine("src", "Pipeline.Cluster"), "*.cs", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(RepoRoot.Combine("src", "Pipeline.Runtime", "Hosting"), "*.cs"))
            .Append(RepoRoot.Combine("src", "Pipeline.Runtime", "Actors", "RunSupervisor.cs"))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"));

    [Theory]
    [MemberData(nameof(Constructions))]
    public void Local_and_cluster_wiring_build_each_actors_settings_in_one_place(string construction, string owner)
    {
        var builders = WiringFiles().Where(f => File.ReadAllText(f).Contains(construction, StringComparison.Ordinal))
            .Select(Path.GetFileName).ToList();
        Assert.Equal([owner], builders);
    }
}
