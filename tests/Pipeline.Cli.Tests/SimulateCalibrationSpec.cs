using Pipeline.Simulation.Calibration;

namespace Pipeline.Cli.Tests;

public class SimulateCalibrationSpec
{
    [Fact]
    public void A_simulation_calibrated_on_a_run_writes_the_fitted_costs_and_reproduces_its_throughput()
    {
        // known-run was itself simulated with known costs: fitting them back and simulating again must land near it.
        var known = Path.Combine(RepoPaths.Root, "tests", "fixtures", "calibration", "known-run");
        var runs = Directory.CreateTempSubdirectory("pipeline-calibrate-").FullName;
        try
        {
            var (code, output, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(120), "simulate", "--calibrate-from", known,
                "--duration", "10m", "--seed", "3", "--set", "run-dir=" + runs, "--set", "run-name=c", "--set", "metrics.plots=off",
                "--set", "generation.group-size=4", "--set", "grpo.batch-groups=4", "--set", "generation.generators=2");
            Assert.True(code == 0, $"exit {code}\n{output}\n{err}");
            var dir = Path.Combine(runs, "c");
            Assert.Contains("group-overhead = 0.3", File.ReadAllText(Path.Combine(dir, "calibrated-costs.conf")));
            Assert.Contains("Simulation against", output);
            var real = RunFigures.Of(known);
            var simulated = RunFigures.Of(dir);
            Assert.InRange(RunFigures.Error(simulated.RolloutsPerS, real.RolloutsPerS), -0.1, 0.1);
            Assert.InRange(RunFigures.Error(simulated.LearnerUtilisation, real.LearnerUtilisation), -0.1, 0.1);
        }
        finally
        {
            Directory.Delete(runs, true);
        }
    }

    [Fact]
    public void Calibrating_from_a_folder_without_a_run_exits_with_code_2_naming_it()
    {
        var empty = Directory.CreateTempSubdirectory("pipeline-calibrate-").FullName;
        try
        {
            var (code, _, err) = CliProcess.Run(RepoPaths.Root, TimeSpan.FromSeconds(60), "simulate", "--calibrate-from", empty, "--duration", "30s");
            Assert.True(code == 2, $"exit {code}\n{err}");
            Assert.Contains(empty, err);
            Assert.Contains("config.conf", err);
        }
        finally
        {
            Directory.Delete(empty, true);
        }
    }
}
