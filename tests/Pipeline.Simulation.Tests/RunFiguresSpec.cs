using Pipeline.Core.Protocol;
using Pipeline.Simulation.Calibration;

namespace Pipeline.Simulation.Tests;

public class RunFiguresSpec
{
    private static MetricsReport Step(long step, double seconds, double update, double sync, bool simulated = false)
    {
        var data = new Dictionary<string, double>
        {
            ["policy/version"] = step, ["rollouts/count"] = 64, ["timing_s/step"] = seconds, ["timing_s/update"] = update,
            ["timing_s/sync"] = sync, ["response_length/mean"] = 10, ["staleness/mean"] = 1,
        };
        if (simulated) data["sim/time_s"] = step * seconds;
        return new MetricsReport(step, data);
    }

    private static MetricsReport Eval() => new(0, new Dictionary<string, double> { ["eval/accuracy"] = 0.1 });

    [Fact]
    public void The_first_step_and_a_step_right_after_an_evaluation_are_left_out()
    {
        var rows = new[] { Step(1, 13, 9, 0), Eval(), Step(2, 5, 4, 0), Step(3, 2, 1, 0), Step(4, 2, 1, 0) };

        var steady = RunFigures.Steady(rows);

        Assert.Equal([3L, 4L], steady.Select(r => r.Step));
        var figures = RunFigures.Of(rows);
        Assert.Equal(128 / 4.0, figures.RolloutsPerS, 9);
        Assert.Equal(1280 / 4.0, figures.TokensPerS, 9);
    }

    [Fact]
    public void A_real_learner_is_busy_for_update_and_sync_and_a_simulated_one_for_its_step_only()
    {
        var real = RunFigures.Of([Step(1, 2, 1, 0.5), Step(2, 2, 1, 0.5), Step(3, 2, 1, 0.5)]);
        var simulated = RunFigures.Of([Step(1, 2, 1, 0.5, true), Step(2, 2, 1, 0.5, true), Step(3, 2, 1, 0.5, true)]);

        Assert.Equal(0.75, real.LearnerUtilisation, 9);
        Assert.Equal(0.5, simulated.LearnerUtilisation, 9);
    }
}
