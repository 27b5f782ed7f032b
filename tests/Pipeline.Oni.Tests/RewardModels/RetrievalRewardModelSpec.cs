using Pipeline.Oni.RewardModels;

namespace Pipeline.Oni.Tests.RewardModels;

public class RetrievalRewardModelSpec
{
    private static RewardModelOptions Opts(int maxEntries = 100, RetrievalAggregate aggregate = RetrievalAggregate.Latest,
        RewardOutput output = RewardOutput.Probability, double defaultReward = 0.25) => new()
    {
        Variant = RewardModelVariant.Retrieval,
        MaxEntries = maxEntries,
        Aggregate = aggregate,
        Output = output,
        DefaultReward = defaultReward,
    };

    [Fact]
    public void Seen_texts_get_their_label_and_unseen_texts_the_default_marked_unknown()
    {
        var rm = new RetrievalRewardModel(Opts());
        Assert.Equal(0, rm.Version);
        Assert.Equal(2, rm.Add([new PointLabel("good answer", 0.9), new PointLabel("bad answer", 0.1)]));
        Assert.Equal(1, rm.Version);

        var s = rm.Score(["good answer", "never labelled", "bad answer"]);
        Assert.Equal([0.9, 0.25, 0.1], s.Values);
        Assert.Equal([true, false, true], s.Known);
        Assert.Equal(2, s.KnownCount);
        Assert.Equal("retrieval", rm.Variant);
    }

    [Fact]
    public void Latest_label_wins_or_labels_are_averaged()
    {
        var latest = new RetrievalRewardModel(Opts());
        var mean = new RetrievalRewardModel(Opts(aggregate: RetrievalAggregate.Mean));
        foreach (var rm in new IPointwiseRewardModel[] { latest, mean })
        {
            rm.TrainStep([new PointLabel("t", 1.0)]);
            rm.TrainStep([new PointLabel("t", 0.0), new PointLabel("t", 0.5)]);
        }
        Assert.Equal(0.5, latest.Score(["t"]).Values[0]);
        Assert.Equal(0.5, mean.Score(["t"]).Values[0], 12);
        latest.Add([new PointLabel("t", 0.8)]);
        mean.Add([new PointLabel("t", 0.8)]);
        Assert.Equal(0.8, latest.Score(["t"]).Values[0]);
        Assert.Equal((1.0 + 0.0 + 0.5 + 0.8) / 4, mean.Score(["t"]).Values[0], 12);
        Assert.Equal(1, latest.Count);
    }

    [Fact]
    public void Decision_output_thresholds_the_value()
    {
        var rm = new RetrievalRewardModel(Opts(output: RewardOutput.Decision) with { DecisionThreshold = 0.7 });
        rm.Add([new PointLabel("a", 0.69), new PointLabel("b", 0.7), new PointLabel("c", 1.0)]);
        var s = rm.Score(["a", "b", "c", "d"]);
        Assert.Equal([0.0, 1.0, 1.0, 0.25], s.Values);
        Assert.Equal([true, true, true, false], s.Known);
    }

    [Fact]
    public void Table_is_bounded_and_evicts_the_entry_labelled_longest_ago()
    {
        var rm = new RetrievalRewardModel(Opts(maxEntries: 3));
        rm.Add([new PointLabel("t1", 1), new PointLabel("t2", 1), new PointLabel("t3", 1)]);
        rm.Add([new PointLabel("t1", 0.5)]);              // re-labelled: now the newest
        rm.Add([new PointLabel("t4", 1), new PointLabel("t5", 1)]);
        Assert.Equal(3, rm.Count);
        Assert.Equal(2, rm.Evictions);
        Assert.False(rm.Contains("t2"));
        Assert.False(rm.Contains("t3"));
        Assert.True(rm.Contains("t1"));
        Assert.Equal([true, false, false, true, true], rm.Score(["t1", "t2", "t3", "t4", "t5"]).Known);
    }

    [Fact]
    public void Non_finite_label_scores_are_rejected_and_counted()
    {
        var rm = new RetrievalRewardModel(Opts());
        Assert.Equal(1, rm.Add([new PointLabel("x", double.NaN), new PointLabel("y", 1)]));
        Assert.Equal(1, rm.RejectedLabels);
        Assert.False(rm.Contains("x"));
        var step = rm.TrainStep([new PointLabel("z", double.PositiveInfinity)]);
        Assert.False(step.Applied);
        Assert.Equal(1, rm.Version);
    }

    [Fact]
    public void Train_step_reports_pre_insert_loss_and_agreement()
    {
        var rm = new RetrievalRewardModel(Opts(defaultReward: 0.0));
        var (loss, acc) = rm.TrainStep([new PointLabel("p", 1.0), new PointLabel("n", 0.0)]);
        Assert.Equal(0.5, loss, 12);   // (1-0)^2 and (0-0)^2
        Assert.Equal(0.5, acc, 12);    // default 0 -> negative: right on "n" only
        Assert.Equal(1.0, rm.Agreement([new PointLabel("p", 0.9), new PointLabel("n", 0.2)]));
        Assert.True(double.IsNaN(rm.Agreement([])));
    }

    [Fact]
    public void Save_and_load_keep_values_version_counts_and_eviction_order()
    {
        using var tmp = new TempDir();
        var rm = new RetrievalRewardModel(Opts(maxEntries: 3, aggregate: RetrievalAggregate.Mean));
        rm.Add([new PointLabel("a", 0.2), new PointLabel("b", 0.4), new PointLabel("c", 1.0 / 3)]);
        rm.Add([new PointLabel("a", 0.7)]);
        rm.Add([new PointLabel("d", 0.9)]); // evicts b
        rm.Save(tmp.Path);
        Assert.True(File.Exists(Path.Combine(tmp.Path, RewardModelStore.TableFile)));

        var loaded = RetrievalRewardModel.Load(tmp.Path);
        string[] probe = ["a", "b", "c", "d", "zzz"];
        Assert.Equal(rm.Score(probe).Values, loaded.Score(probe).Values);
        Assert.Equal(rm.Score(probe).Known, loaded.Score(probe).Known);
        Assert.Equal(rm.Version, loaded.Version);
        Assert.Equal(rm.Evictions, loaded.Evictions);
        Assert.Equal(rm.Options, loaded.Options);

        // Order survived: the next insert evicts c (labelled longest ago), in both.
        rm.Add([new PointLabel("e", 1)]);
        loaded.Add([new PointLabel("e", 1)]);
        Assert.False(loaded.Contains("c"));
        Assert.True(loaded.Contains("a"));
        Assert.Equal(rm.Score(probe).Values, loaded.Score(probe).Values);

        var viaFactory = RewardModelFactory.Load(tmp.Path);
        Assert.IsType<RetrievalRewardModel>(viaFactory);
        Assert.Throws<InvalidDataException>(() => ClassificationRewardModel.Load(tmp.Path));
    }
}
