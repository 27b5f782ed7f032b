using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Learning.Grpo;

namespace Pipeline.Cli.Tests;

/// <summary><c>pipeline bench model</c> on the tiny shape, end to end through the real binary (its load child included).</summary>
public sealed class BenchModelSpec
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(180);

    [Fact]
    public void Bench_model_prints_every_figure_and_each_is_positive()
    {
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "bench", "model", "--size", "tiny",
            "--prompt", "8", "--new-tokens", "8", "--group", "4", "--groups", "2", "--repeats", "1", "--matmul", "128", "--threads", "1");
        Assert.True(code == 0, $"bench model exited {code}: {stderr}\n{stdout}");
        var rows = stdout.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| measurement", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToDictionary(c => c[1], c => c[2]);

        // Hand count of the tiny shape: embedding and head 256 x 64 each; per layer q, o 64x64, k, v 32x64,
        // gate, up, down 160x64 and two norms of 64; the final norm.
        Assert.Equal("119,104", rows["parameters"]);
        Assert.True(First(rows, "load time") > 0);
        Assert.True(First(rows, "constructing the module") > 0);
        Assert.True(First(rows, "peak RSS increase") > 0);
        Assert.True(First(rows, "sampling, group of 4") > 0);
        Assert.True(First(rows, "GRPO step, 2 groups") > 0);
        Assert.True(First(rows, "GRPO achieved") > 0);
        Assert.True(First(rows, "fp32 matmul 128^3") > 0);
        Assert.True(First(rows, "[ratio] GRPO / matmul peak") > 0);
        // The tiny shape's step is shorter than the CPU clock can time: the row says so rather than print a number.
        Assert.Equal("n/a (step too short)", rows["[ratio] GRPO / matmul peak, per CPU-second"]);
        Assert.Matches(@"; [0-9.]+ GFLOP per CPU-second$", rows["fp32 matmul 128^3 (before / after GRPO)"]);
        Assert.True(First(rows, "peak RSS of this process") > 0);
        // 8 rows x 15 input positions, 64 completion tokens: see GrpoStepFlops_counts_... for the sum.
        Assert.Equal("0.093 GFLOP", rows["GRPO step FLOPs (policy fwd+bwd, reference fwd, attention)"]);
        Assert.Matches(@"^machine: .+, \d+ cores, torch threads 1, load average at start ", stdout);
    }

    [Fact]
    public void Bench_model_with_lora_prints_full_and_lora_rows_and_the_lora_row_trains_only_what_rank_and_targets_imply()
    {
        var (code, stdout, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "bench", "model", "--size", "tiny", "--lora",
            "--lora-rank", "4", "--lora-targets", "q_proj,v_proj,down_proj",
            "--prompt", "8", "--new-tokens", "8", "--group", "4", "--groups", "2", "--repeats", "1", "--matmul", "128", "--threads", "1");
        Assert.True(code == 0, $"bench model --lora exited {code}: {stderr}\n{stdout}");
        var rows = stdout.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToDictionary(c => c[1], c => c[2..^1]);
        var full = rows["full (KL reference: a second model copy)"];
        var lora = rows["LoRA r 4 q_proj,v_proj,down_proj (KL reference: the base, adapters off)"];
        var ratio = rows["[ratio] LoRA / full"];

        // The tiny shape by hand: hidden 64, 4 heads of 16, 2 KV heads, intermediate 160, 2 layers. An adapter on a
        // projection in -> out trains r x (in + out): q_proj 64 -> 64, v_proj 64 -> 32, down_proj 160 -> 64.
        var shape = BenchModelCommand.Shapes.Single(s => s.Name == "tiny");
        var headDim = shape.Hidden / shape.Heads;
        long perLayer = 4L * (shape.Hidden + shape.Heads * headDim) + 4L * (shape.Hidden + shape.KvHeads * headDim) + 4L * (shape.Intermediate + shape.Hidden);
        var loraTrainable = shape.Layers * perLayer;
        Assert.Equal(3_584, loraTrainable);
        const long fullTrainable = 119_104; // every parameter of the tiny shape (see the test above)
        Assert.Equal(fullTrainable.ToString("N0", CultureInfo.InvariantCulture), full[3]);
        Assert.Equal(loraTrainable.ToString("N0", CultureInfo.InvariantCulture), lora[3]);

        // AdamW's state, read from the optimizer's tensors: two fp32 moments per trainable parameter.
        Assert.EndsWith($"({2 * 4 * fullTrainable:N0} B)", full[4]);
        Assert.EndsWith($"({2 * 4 * loraTrainable:N0} B)", lora[4]);
        // fp32 weights + KL reference + gradients + AdamW: full holds a second copy as its reference, LoRA none
        // (its weights are the base plus the adapters).
        Assert.EndsWith($"({4 * (3 * fullTrainable) + 8 * fullTrainable:N0} B)", full[5]);
        Assert.EndsWith($"({4 * (fullTrainable + loraTrainable + loraTrainable) + 8 * loraTrainable:N0} B)", lora[5]);

        Assert.True(First(full[0]) > 0 && First(lora[0]) > 0, "GRPO step tokens/s must be positive in both rows");
        Assert.True(First(full[7]) > 0 && First(lora[7]) > 0, "peak RSS during the steps must be positive in both rows");
        Assert.Equal($"{(double)loraTrainable / fullTrainable:0.000}x", ratio[3]);
        // With --lora the in-process GRPO step and its matmul ratio give way to the comparison; the rows before it stay.
        Assert.Equal("119,104", rows["parameters"][0]);
        Assert.DoesNotContain("[ratio] GRPO / matmul peak", stdout);
    }

    [Fact]
    public void An_unknown_lora_target_exits_with_code_2_naming_the_projections()
    {
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "bench", "model", "--size", "tiny", "--lora", "--lora-targets", "q_proj,qkv");
        Assert.Equal(2, code);
        Assert.Contains("--lora-targets: qkv name(s) no projection (known: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear)", stderr);
    }

    [Fact]
    public void GrpoStepFlops_counts_the_policy_three_times_the_reference_once_and_the_proximal_pass_only_when_it_runs()
    {
        var config = BenchModelCommand.ConfigOf(BenchModelCommand.Shapes.Single(s => s.Name == "tiny"), 16);
        // One forward, by hand: linear 2 x (2 x 64x64 + 2 x 32x64 + 3 x 64x160) x 2 layers x 120 positions = 20,643,840;
        // head 2 x 256 x 64 x 64 tokens = 2,097,152; attention 2 layers x 8 rows x 2 x 64 x 15 x 16 = 491,520.
        const double forward = 20_643_840 + 2_097_152 + 491_520;
        Assert.Equal(4 * forward, BenchModelCommand.GrpoStepFlops(config, 8, 15, 64, new GrpoSettings()));
        Assert.Equal(3 * forward, BenchModelCommand.GrpoStepFlops(config, 8, 15, 64, new GrpoSettings(KlCoef: 0)));
        Assert.Equal((2 * 3 + 1 + 1) * forward, BenchModelCommand.GrpoStepFlops(config, 8, 15, 64, new GrpoSettings(Epochs: 2)));
    }

    [Fact]
    public void An_unknown_size_exits_with_code_2_naming_the_known_ones()
    {
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "bench", "model", "--size", "7b");
        Assert.Equal(2, code);
        Assert.Contains("--size '7b' is not known (known: tiny, 25m, 125m)", stderr);
    }

    private static double First(Dictionary<string, string> rows, string prefix)
        => First(rows.TryGetValue(prefix, out var exact) ? exact : rows.Single(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Value);

    private static double First(string value)
        => double.Parse(Regex.Match(value, @"-?[0-9][0-9,]*\.?[0-9]*").Value.Replace(",", ""), CultureInfo.InvariantCulture);
}
