using Pipeline.Learning.Grpo;
using Pipeline.Learning.Model;
using Pipeline.Learning.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Learning.Tests;

public class GrpoLossSpec
{
    private static readonly GrpoSettings Defaults = new(); // ClipLow 0.2, ClipHigh 0.28, KlCoef 0.02, IsCap 2

    private static Tensor Row(params double[] v) => tensor(v.Select(x => (float)x).ToArray(), new long[] { 1, v.Length });
    private static Tensor Rows(double[,] v)
    {
        var (n, t) = (v.GetLength(0), v.GetLength(1));
        var flat = new float[n * t];
        for (var i = 0; i < n; i++) for (var j = 0; j < t; j++) flat[i * t + j] = (float)v[i, j];
        return tensor(flat, new long[] { n, t });
    }
    private static Tensor Adv(params double[] a) => tensor(a.Select(x => (float)x).ToArray());
    private static double F(Tensor t) => t.item<float>();

    [Fact]
    public void At_ratio_one_with_no_mismatch_the_loss_must_be_minus_the_token_mean_advantage()
    {
        using var scope = NewDisposeScope();
        var lp = Row(-1, -2, -3);
        var terms = GrpoLoss.Compute(lp, lp, lp, lp, Adv(2.0), ones(1, 3, dtype: ScalarType.Bool), Defaults);
        Assert.Equal(-2.0, F(terms.Loss), 6);
        Assert.Equal(0.0, F(terms.Kl), 6);
        Assert.Equal(0.0, F(terms.ClipFrac), 6);
    }

    [Fact]
    public void Ratios_outside_the_trust_region_must_be_clipped_asymmetrically()
    {
        using var scope = NewDisposeScope();
        // token ratios: 1.5, 0.5, 1.5, 1.1 with advantages +1, -1, -1, +1 (one row per token)
        var prox = Rows(new double[,] { { -1 }, { -1 }, { -1 }, { -1 } });
        var logp = prox + Rows(new double[,] { { Math.Log(1.5) }, { Math.Log(0.5) }, { Math.Log(1.5) }, { Math.Log(1.1) } });
        var terms = GrpoLoss.Compute(logp, prox, prox, null, Adv(1, -1, -1, 1), ones(4, 1, dtype: ScalarType.Bool), Defaults);
        // A>0, r=1.5: -min(1.5, 1.28) = -1.28 (clipped)   A<0, r=0.5: -min(-0.5, -0.8) = 0.8 (clipped)
        // A<0, r=1.5: -min(-1.5, -1.28) = 1.5 (unclipped)  A>0, r=1.1: -1.1 (inside)
        Assert.Equal((-1.28 + 0.8 + 1.5 - 1.1) / 4, F(terms.Loss), 5);
        Assert.Equal(0.5, F(terms.ClipFrac), 6);
    }

    [Fact]
    public void The_k3_kl_must_match_its_closed_form()
    {
        using var scope = NewDisposeScope();
        var logp = Row(Math.Log(0.5), Math.Log(0.2));
        var reference = Row(Math.Log(0.25), Math.Log(0.4));
        var settings = Defaults with { KlCoef = 0.1 };
        var terms = GrpoLoss.Compute(logp, logp, logp, reference, Adv(0), ones(1, 2, dtype: ScalarType.Bool), settings);
        // k3 = r - ln r - 1 with r = ref/pi: 0.5 -> 0.193147, 2 -> 0.306853
        var expected = (0.5 - Math.Log(0.5) - 1 + 2 - Math.Log(2) - 1) / 2;
        Assert.Equal(expected, F(terms.Kl), 5);
        Assert.Equal(0.1 * expected, F(terms.Loss), 5);
        Assert.Equal(0.0, F(GrpoLoss.Compute(logp, logp, logp, reference, Adv(0), ones(1, 2, dtype: ScalarType.Bool), settings with { KlCoef = 0 }).Loss), 6);
    }

    [Fact]
    public void Importance_weights_must_be_capped()
    {
        using var scope = NewDisposeScope();
        var prox = Row(-1, -1);
        var behaviour = prox - Row(Math.Log(3), Math.Log(0.5)); // pi_prox/pi_behav = 3 (capped to 2) and 0.5
        var terms = GrpoLoss.Compute(prox, prox, behaviour, null, Adv(1), ones(1, 2, dtype: ScalarType.Bool), Defaults);
        Assert.Equal(-(2.0 + 0.5) / 2, F(terms.Loss), 5);
    }

    [Fact]
    public void The_token_mean_must_count_every_valid_token_and_ignore_padding()
    {
        using var scope = NewDisposeScope();
        var lp = Rows(new double[,] { { -1, -1, -1 }, { -1, -1, -1 } });
        var behaviour = Rows(new double[,] { { -1, -1, -1 }, { -1, double.NaN, double.PositiveInfinity } }); // garbage on padding
        var mask = tensor(new[] { true, true, true, true, false, false }, new long[] { 2, 3 });
        var leaf = lp.clone().requires_grad_(true);
        var terms = GrpoLoss.Compute(leaf, lp, behaviour, null, Adv(1, -1), mask, Defaults);
        Assert.Equal(-(3 * 1.0 + 1 * -1.0) / 4, F(terms.Loss), 6);
        terms.Loss.backward();
        // d loss / d logp = -A / N on valid tokens (ratio 1, weight 1), 0 on padding.
        var grad = leaf.grad!.data<float>().ToArray();
        Assert.Equal(new[] { -0.25f, -0.25f, -0.25f, 0.25f, 0f, 0f }, grad);
    }

    [Fact]
    public void Zero_advantage_samples_must_still_count_in_the_denominator()
    {
        using var scope = NewDisposeScope();
        var lp = Rows(new double[,] { { -1, -1 }, { -1, -1 } });
        var terms = GrpoLoss.Compute(lp, lp, lp, null, Adv(1, 0), ones(2, 2, dtype: ScalarType.Bool), Defaults);
        Assert.Equal(-0.5, F(terms.Loss), 6);
    }

    private static TrainSample[] OnPolicyGroup(PolicyModel model, int[] prompt, IReadOnlyList<int[]> completions, double[] advantages) =>
        completions.Select((c, i) => new TrainSample(prompt, c, TinyPolicy.CompletionLogProbs(model, prompt, c, 1.0), advantages[i], 0)).ToArray();

    [Fact]
    public void A_trainer_step_with_reference_equal_to_policy_must_report_minus_mean_advantage()
    {
        using var policy = TinyPolicy.Create(seed: 21);
        using var reference = TinyPolicy.Create(seed: 21);
        var prompt = new[] { 1, 2, 3 };
        var group = new PolicySampler(policy, 5).SampleGroup(prompt, 4, new SamplingSettings(1.0, 1.0, 6, new[] { 0 }));
        var adv = new[] { 1.0, -0.5, 2.0, 0.0 };
        var batch = group.Select((c, i) => new TrainSample(prompt, c.Tokens, c.LogProbs, adv[i], 0)).ToArray();
        using var trainer = new GrpoTrainer(policy, reference, new GrpoSettings());
        var stats = trainer.Step(batch);
        var tokenMean = batch.Sum(b => b.Advantage * b.CompletionTokens.Length) / batch.Sum(b => b.CompletionTokens.Length);
        Assert.False(stats.Skipped, stats.SkipReason);
        Assert.Equal(-tokenMean, stats.Loss, 4);
        Assert.Equal(0.0, stats.Kl, 5);
        Assert.Equal(0.0, stats.ClipFrac, 6);
        Assert.Equal(1.0, stats.IsRatioMean, 4);
        Assert.Equal(0.0, stats.MismatchKl, 5);
        Assert.Equal(batch.Sum(b => b.CompletionTokens.Length), stats.Tokens);
        Assert.True(stats.Entropy > 0 && stats.GradNorm > 0);
    }

    [Theory]
    [InlineData("nan-logprob")]
    [InlineData("inf-logprob")]
    [InlineData("nan-advantage")]
    public void Non_finite_inputs_must_skip_the_step_and_leave_weights_unchanged(string poison)
    {
        using var policy = TinyPolicy.Create(seed: 21);
        var prompt = new[] { 1, 2 };
        var batch = OnPolicyGroup(policy, prompt, new[] { new[] { 4, 5, 6 }, new[] { 7, 8 } }, new[] { 1.0, -1.0 });
        batch[1] = poison switch
        {
            "nan-logprob" => batch[1] with { BehaviourLogProbs = new[] { -1f, float.NaN } },
            "inf-logprob" => batch[1] with { BehaviourLogProbs = new[] { float.NegativeInfinity, -1f } },
            _ => batch[1] with { Advantage = double.NaN },
        };
        using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: 1e-2));
        var before = TinyPolicy.Snapshot(policy);
        var stats = trainer.Step(batch);
        Assert.True(stats.Skipped);
        Assert.NotNull(stats.SkipReason);
        Assert.Equal(1, trainer.SkippedSteps);
        var after = TinyPolicy.Snapshot(policy);
        for (var i = 0; i < before.Length; i++) Assert.Equal(before[i], after[i]);
    }

    [Fact]
    public void Positive_advantage_must_raise_and_negative_advantage_must_lower_a_completion_log_prob()
    {
        using var policy = TinyPolicy.Create(seed: 8);
        using var reference = TinyPolicy.Create(seed: 8);
        var prompt = new[] { 1, 2 };
        var good = new[] { 5, 6, 7 };
        var bad = new[] { 9, 10, 11 };
        double SeqLogProb(int[] c) => TinyPolicy.CompletionLogProbs(policy, prompt, c, 1.0).Sum();
        var (good0, bad0) = (SeqLogProb(good), SeqLogProb(bad));
        using var trainer = new GrpoTrainer(policy, reference, new GrpoSettings(LearningRate: 1e-2));
        for (var step = 0; step < 5; step++)
        {
            var stats = trainer.Step(OnPolicyGroup(policy, prompt, new[] { good, bad }, new[] { 1.0, -1.0 }));
            Assert.False(stats.Skipped, stats.SkipReason);
        }
        Assert.True(SeqLogProb(good) > good0 + 0.5, $"good {good0} -> {SeqLogProb(good)}");
        Assert.True(SeqLogProb(bad) < bad0 - 0.5, $"bad {bad0} -> {SeqLogProb(bad)}");
    }

    [Fact]
    public void An_entropy_bonus_must_raise_the_policy_entropy_where_the_plain_loss_does_not()
    {
        // Zero advantages: without a bonus the only gradient is nil, so the weights stay; with it the entropy climbs.
        var prompt = new[] { 1, 2 };
        double EntropyAfter(double coef)
        {
            using var policy = TinyPolicy.Create(seed: 8);
            var batch = OnPolicyGroup(policy, prompt, new[] { new[] { 5, 6, 7 }, new[] { 9, 10 } }, new[] { 0.0, 0.0 });
            using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: 1e-2, EntropyCoef: coef));
            for (var i = 0; i < 5; i++) Assert.False(trainer.Step(batch).Skipped);
            return trainer.Step(batch).Entropy;
        }
        using var fresh = TinyPolicy.Create(seed: 8);
        using var probe = new GrpoTrainer(fresh, null, new GrpoSettings(LearningRate: 0));
        var initial = probe.Step(OnPolicyGroup(fresh, prompt, new[] { new[] { 5, 6, 7 }, new[] { 9, 10 } }, new[] { 0.0, 0.0 })).Entropy;
        Assert.Equal(initial, EntropyAfter(0), 4);
        Assert.True(EntropyAfter(0.5) > initial + 1e-3, $"entropy {initial} -> {EntropyAfter(0.5)}");
    }

    [Fact]
    public void The_learning_rate_set_between_steps_is_the_one_the_next_step_uses()
    {
        using var policy = TinyPolicy.Create(seed: 8);
        var batch = OnPolicyGroup(policy, new[] { 1, 2 }, new[] { new[] { 5, 6 }, new[] { 9 } }, new[] { 1.0, -1.0 });
        using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: 1e-2));
        Assert.Equal(1e-2, trainer.LearningRate, 12);
        trainer.LearningRate = 0; // a warm-up's first step at zero leaves the weights as they are
        var before = TinyPolicy.Snapshot(policy);
        Assert.False(trainer.Step(batch).Skipped);
        var after = TinyPolicy.Snapshot(policy);
        for (var i = 0; i < before.Length; i++) Assert.Equal(before[i], after[i]);
        trainer.LearningRate = 1e-2;
        trainer.Step(batch);
        Assert.Contains(Enumerable.Range(0, before.Length), i => !before[i].SequenceEqual(TinyPolicy.Snapshot(policy)[i]));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.LearningRate = double.NaN);
    }

    [Fact]
    public void Several_epochs_and_minibatches_must_train_against_a_fixed_proximal_policy()
    {
        using var policy = TinyPolicy.Create(seed: 8);
        var prompt = new[] { 1, 2 };
        var batch = OnPolicyGroup(policy, prompt, new[] { new[] { 5, 6 }, new[] { 9, 10, 11 }, new[] { 3 }, new[] { 4, 4 } }, new[] { 1.0, -1.0, 0.5, -0.5 });
        using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: 5e-2, MiniBatches: 2, Epochs: 3));
        var stats = trainer.Step(batch);
        Assert.False(stats.Skipped, stats.SkipReason);
        Assert.Equal(1.0, stats.IsRatioMean, 4); // behaviour == prox: computed once before the epochs
        Assert.True(stats.ClipFrac > 0, "later epochs must move the ratio far enough to clip at lr 5e-2");
        Assert.True(double.IsFinite(stats.Loss) && double.IsFinite(stats.GradNorm));
    }

    [Fact]
    public void A_dense_token_bonus_must_move_only_through_its_token_and_set_the_loss_by_its_token_mean()
    {
        using var policy = TinyPolicy.Create(seed: 8);
        var prompt = new[] { 1, 2 };
        var completion = new[] { 5, 6, 7 };
        // Zero sequence advantage; the critic marked the first token good (+1) and the last bad (-1).
        var sample = OnPolicyGroup(policy, prompt, new[] { completion }, new[] { 0.0 })[0] with { TokenBonus = [1f, 0f, -1f] };
        double TokenLogProb(int j) => TinyPolicy.CompletionLogProbs(policy, prompt, completion, 1.0)[j];
        var (first0, last0) = (TokenLogProb(0), TokenLogProb(2));
        using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: 1e-2));

        var stats = trainer.Step([sample]);
        Assert.False(stats.Skipped, stats.SkipReason);
        Assert.Equal(-(1.0 + 0.0 - 1.0) / 3, stats.Loss, 4); // on policy: minus the token-mean advantage
        for (var step = 0; step < 4; step++)
            trainer.Step(OnPolicyGroup(policy, prompt, new[] { completion }, new[] { 0.0 }).Select(x => x with { TokenBonus = [1f, 0f, -1f] }).ToArray());

        Assert.True(TokenLogProb(0) > first0 + 0.2, $"marked-good token {first0} -> {TokenLogProb(0)}");
        Assert.True(TokenLogProb(2) < last0 - 0.2, $"marked-bad token {last0} -> {TokenLogProb(2)}");
    }

    [Fact]
    public void A_token_bonus_of_the_wrong_length_or_not_finite_must_skip_the_step()
    {
        using var policy = TinyPolicy.Create(seed: 8);
        var prompt = new[] { 1, 2 };
        var sample = OnPolicyGroup(policy, prompt, new[] { new[] { 5, 6, 7 } }, new[] { 1.0 })[0];
        using var trainer = new GrpoTrainer(policy, null, new GrpoSettings(LearningRate: 1e-2));
        Assert.Contains("entries", trainer.Step([sample with { TokenBonus = [1f, 0f] }]).SkipReason);
        Assert.Contains("non-finite token bonus", trainer.Step([sample with { TokenBonus = [1f, float.NaN, 0f] }]).SkipReason);
        Assert.Equal(2, trainer.SkippedSteps);
    }
}
