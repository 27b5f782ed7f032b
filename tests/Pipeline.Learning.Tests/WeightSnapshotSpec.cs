using Pipeline.Learning.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

[Collection(TorchGlobalStateCollection.Name)]
public class WeightSnapshotSpec
{
    private static nn.Module<Tensor, Tensor> MakeModel(long seed)
    {
        torch.manual_seed(seed);
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 3));
    }

    private static float[] Flat(nn.Module m) =>
        m.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    [Fact]
    public void Export_then_import_copies_weights_into_a_differently_initialised_model()
    {
        using var a = MakeModel(1);
        using var b = MakeModel(2);
        Assert.NotEqual(Flat(a), Flat(b));

        var snap = WeightTransfer.Export(a, version: 7);
        Assert.Equal(7, snap.Version);
        Assert.Equal(4 * 8 + 8 + 8 + 8 + 8 * 3 + 3, snap.ParameterCount);

        var handlesBefore = b.parameters().Select(p => p.Handle).ToArray();
        WeightTransfer.Import(b, snap);
        Assert.Equal(Flat(a), Flat(b));
        Assert.Equal(handlesBefore, b.parameters().Select(p => p.Handle).ToArray()); // copied in place
        Assert.Equal(snap.Checksum, WeightTransfer.Export(b, 7).Checksum);
    }

    [Fact]
    public void Checksum_changes_when_weights_change_and_is_stable_otherwise()
    {
        using var a = MakeModel(1);
        var s1 = WeightTransfer.Export(a, 1);
        var s2 = WeightTransfer.Export(a, 1);
        Assert.Equal(64, s1.Checksum.Length);
        Assert.Equal(s1.Checksum, s2.Checksum);
        Assert.Equal(s1, s2);

        using (torch.no_grad()) a.parameters().First().add_(1e-3f);
        Assert.NotEqual(s1.Checksum, WeightTransfer.Export(a, 1).Checksum);
    }

    [Fact]
    public void Import_names_the_tensor_whose_shape_does_not_match()
    {
        using var a = MakeModel(1);
        torch.manual_seed(3);
        using var wider = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 5));
        var before = Flat(a);
        var ex = Assert.Throws<InvalidOperationException>(() => WeightTransfer.Import(a, WeightTransfer.Export(wider, 1)));
        Assert.Contains("'3.weight'", ex.Message);
        Assert.Equal(before, Flat(a)); // untouched
    }

    [Fact]
    public void Import_names_a_missing_tensor()
    {
        using var a = MakeModel(1);
        var snap = WeightTransfer.Export(a, 1);
        var partial = snap with { Tensors = snap.Tensors.Where(t => t.Name != "2.bias").ToList() };
        var ex = Assert.Throws<InvalidOperationException>(() => WeightTransfer.Import(a, partial));
        Assert.Contains("'2.bias'", ex.Message);
    }
}
