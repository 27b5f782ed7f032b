using System.Runtime.CompilerServices;
using Pipeline.Learning;
using Pipeline.Oni.RewardModels;
using TorchSharp;

namespace Pipeline.Oni.Tests.RewardModels;

internal static class TorchThreadsSetup
{
    /// <summary>
    /// One intra-op thread for the whole test process, as the rm-trainer actor would run: these heads are tiny, and on a
    /// busy 2-core machine two torch threads made a 2048-64-1 training step 5-15 times slower than one.
    /// </summary>
    [ModuleInitializer]
    internal static void OneThread() => TorchRuntime.Configure(1);
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalStateCollection
{
    public const string Name = "torch global state";
}

[Collection(TorchGlobalStateCollection.Name)]
public class TorchThreadsSpec
{
    [Fact]
    public void Torch_threads_option_configures_torch_and_zero_leaves_it_alone()
    {
        try
        {
            TorchRuntime.Configure(2);
            using (new ClassificationRewardModel(new RewardModelOptions { Features = FeatureKind.Chars, CharDim = 16 }))
                Assert.Equal(2, torch.get_num_threads());
            using (new RankingRewardModel(new RewardModelOptions { Features = FeatureKind.Chars, CharDim = 16, TorchThreads = 1 }))
                Assert.Equal(1, torch.get_num_threads());
        }
        finally
        {
            TorchRuntime.Configure(1);
        }
    }
}
