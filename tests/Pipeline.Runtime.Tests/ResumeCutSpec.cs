using System.Text;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Metrics;
using TorchSharp;

namespace Pipeline.Runtime.Tests;

/// <summary>On resume the run's logs are cut back to the checkpoint, so the steps run again appear once.</summary>
public sealed class ResumeCutSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("resume-cut-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Row(long step, params string[] names)
        => MetricsRecorder.ToJson(new MetricsReport(step, names.ToDictionary(n => n, _ => 1.0))) + "\n";

    /// <summary>A run hard-stopped during GRPO step 6: three warm-start epochs, the warm-start eval, steps 1-5 and half of 6.</summary>
    private string WriteHardStoppedLog()
    {
        var path = Path.Combine(_dir, MetricsRecorder.JsonlFile);
        var text = new StringBuilder();
        for (var epoch = 1; epoch <= 3; epoch++) text.Append(Row(epoch, "sft/epoch", "sft/loss"));
        text.Append(Row(0, "eval/accuracy"));
        for (var step = 1; step <= 5; step++) text.Append(Row(step, "policy/version", "reward/mean"));
        text.Append(Row(4, "eval/accuracy"));
        text.Append(Row(6, "policy/version", "reward/mean")[..20]);
        File.WriteAllText(path, text.ToString());
        return path;
    }

    [Fact]
    public void Resuming_GRPO_from_step_4_keeps_the_warm_start_and_steps_up_to_4_and_drops_the_partial_line()
    {
        var path = WriteHardStoppedLog();

        var said = new ResumeCut(CheckpointStages.Grpo, 4).CutJsonl(path);

        var rows = MetricsRecorder.ReadAll(path);
        Assert.Equal(new long[] { 1, 2, 3 }, rows.Where(r => r.Data.ContainsKey("sft/epoch")).Select(r => r.Step));
        Assert.Equal(new long[] { 1, 2, 3, 4 }, rows.Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Step));
        Assert.Equal(new long[] { 0, 4 }, rows.Where(r => r.Data.ContainsKey("eval/accuracy")).Select(r => r.Step));
        Assert.Contains("dropped 1 row", said);
        Assert.Contains("unreadable", said);
    }

    [Fact]
    public void Resuming_then_running_again_leaves_each_GRPO_step_exactly_once()
    {
        var path = WriteHardStoppedLog();
        new ResumeCut(CheckpointStages.Grpo, 4).CutJsonl(path);
        // The resumed run records steps 5 and 6 again, as MetricsRecorder appends them.
        File.AppendAllText(path, Row(5, "policy/version") + Row(6, "policy/version"));

        var steps = MetricsRecorder.ReadAll(path).Where(r => r.Data.ContainsKey("policy/version")).Select(r => r.Step).ToList();

        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, steps);
    }

    [Fact]
    public void Resuming_the_warm_start_at_epoch_2_drops_later_epochs_and_everything_after_the_warm_start()
    {
        var path = WriteHardStoppedLog();

        new ResumeCut(CheckpointStages.WarmStart, 2).CutJsonl(path);

        var rows = MetricsRecorder.ReadAll(path);
        Assert.Equal(new long[] { 1, 2 }, rows.Select(r => r.Step));
        Assert.All(rows, r => Assert.True(r.Data.ContainsKey("sft/epoch")));
    }

    [Fact]
    public void A_log_with_nothing_after_the_checkpoint_is_left_untouched()
    {
        var path = Path.Combine(_dir, MetricsRecorder.JsonlFile);
        File.WriteAllText(path, Row(1, "sft/epoch") + Row(1, "policy/version"));
        var before = File.GetLastWriteTimeUtc(path);

        Assert.Null(new ResumeCut(CheckpointStages.Grpo, 1).CutJsonl(path));
        Assert.Equal(before, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void TensorBoard_events_recorded_after_the_checkpoint_are_removed_and_the_rest_kept_byte_for_byte()
    {
        var tb = Path.Combine(_dir, MetricsRecorder.TensorBoardFolder);
        var writer = torch.utils.tensorboard.SummaryWriter(tb, createRunName: false);
        for (var epoch = 1; epoch <= 3; epoch++) writer.add_scalar("sft/loss", 1f / epoch, epoch);
        for (var step = 1; step <= 6; step++) writer.add_scalar("reward/mean", step, step);
        var file = Assert.Single(Directory.GetFiles(tb));
        // A hard stop in the middle of a record.
        var whole = File.ReadAllBytes(file);
        File.WriteAllBytes(file, [.. whole, .. whole.AsSpan(whole.Length - 30, 20)]);

        var said = TensorBoardEvents.CutBack(tb, new ResumeCut(CheckpointStages.Grpo, 4));

        var events = TensorBoardEvents.Read(file, out var partial);
        Assert.False(partial);
        Assert.Equal(new long[] { 1, 2, 3 }, events.Where(e => e.Tags.Contains("sft/loss")).Select(e => e.Step));
        Assert.Equal(new long[] { 1, 2, 3, 4 }, events.Where(e => e.Tags.Contains("reward/mean")).Select(e => e.Step));
        Assert.Contains(events, e => !e.HasSummary); // the file_version header stays
        Assert.Equal(whole.AsSpan(0, events.Sum(e => e.Framed.Length)).ToArray(), File.ReadAllBytes(file)[..events.Sum(e => e.Framed.Length)]);
        Assert.Contains("dropped 2 event(s)", Assert.Single(said));
    }
}
