namespace Pipeline.Cli.Tests;

public class ExperimentPlotsSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-plots-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Range_bars_write_a_png_even_when_a_row_has_no_value()
    {
        SeedSpread[] exec = [SeedSpread.Of([0.19, 0.21]), SeedSpread.Of([0.22, 0.25, 0.24]), SeedSpread.Of([double.NaN])];
        SeedSpread[] exact = [SeedSpread.Of([0.10, 0.12]), SeedSpread.Of([0.15, 0.13, 0.14]), SeedSpread.Of([0.2])];

        var path = ExperimentPlots.RangeBars(Path.Combine(_dir, "bars.png"), "t", ["warm-start only", "GRPO: execution", "+ critic, synchronous (required)"],
            [("execution accuracy", exec), ("exact match", exact)]);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes.Take(4).ToArray());
    }
}
