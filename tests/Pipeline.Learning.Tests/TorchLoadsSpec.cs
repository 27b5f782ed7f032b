using Pipeline.Learning;
using TorchSharp;

namespace Pipeline.Learning.Tests;

/// <summary>
/// Tests that touch torch's process-wide state (global RNG, thread count) run in this collection, which xUnit
/// runs on its own, never in parallel with other test classes.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalStateCollection
{
    public const string Name = "torch global state";
}

[Collection(TorchGlobalStateCollection.Name)]
public class TorchLoadsSpec
{
    [Fact]
    public void Torch_loads_and_sums_a_tensor()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(6f, torch.ones(2, 3).sum().item<float>());
    }

    [Fact]
    public void Auto_device_resolves_to_cpu_without_cuda()
    {
        if (torch.cuda.is_available()) return;
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice("auto").type);
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice("cpu").type);
    }

    [Fact]
    public void Requesting_cuda_without_cuda_throws_a_clear_error()
    {
        if (torch.cuda.is_available()) return;
        var ex = Assert.Throws<InvalidOperationException>(() => TorchRuntime.ResolveDevice("cuda"));
        Assert.Contains("CUDA is not available", ex.Message);
    }

    [Fact]
    public void Configure_sets_the_thread_count()
    {
        var before = torch.get_num_threads();
        TorchRuntime.Configure(1);
        Assert.Equal(1, torch.get_num_threads());
        TorchRuntime.Configure(before);
    }
}
