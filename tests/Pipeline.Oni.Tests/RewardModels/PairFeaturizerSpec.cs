using Pipeline.Oni.RewardModels;

namespace Pipeline.Oni.Tests.RewardModels;

public class PairFeaturizerSpec
{
    private static float[] Overlap(string prompt, string completion)
    {
        var f = new PairFeaturizer(dimension: 64);
        return f.Featurize([RewardModelInputs.Text(RewardModelInput.PromptCompletion, prompt, completion)])[128..];
    }

    [Fact]
    public void Overlap_rates_say_which_literals_of_the_prompt_the_completion_copies_and_which_it_invents()
    {
        var o = Overlap("[shop] [en] Orders from Lima or Quito above 25 and below 40", "SELECT * FROM orders WHERE city = 'Lima' AND total > 25 AND total < 7");

        Assert.Equal(0.5f, o[0]);   // prompt numbers 25, 40: 25 copied
        Assert.Equal(0.5f, o[1]);   // completion numbers 25, 7: 25 from the prompt
        Assert.Equal(1f, o[2]);     // 'Lima' is in the prompt
        Assert.Equal(2f / 3, o[3], 6); // capitalised words after the first: Orders, Lima, Quito; orders and Lima copied
        Assert.Equal([1f, 1f, 1f, 1f], o[4..]);
    }

    [Fact]
    public void A_completion_without_a_prompt_part_reads_as_an_empty_prompt()
    {
        var o = Overlap("", "SELECT 1");
        Assert.Equal([1f, 0f, 1f, 1f, 0f, 0f, 0f, 1f], o);
        Assert.Equal(("", "SELECT 1"), RewardModelInputs.Split("SELECT 1"));
    }

    [Fact]
    public void Learns_a_label_that_depends_on_the_prompt_where_completion_features_cannot()
    {
        // Right = the SQL filters on the value the question asks about. Every completion appears once right and once wrong.
        List<PointLabel> Make(RewardModelInput input, int n, int seed)
        {
            var r = new Random(seed);
            var labels = new List<PointLabel>();
            for (var i = 0; i < n; i++)
            {
                int asked = r.Next(100, 999), other = r.Next(100, 999);
                var sql = $"SELECT name FROM items WHERE price > {asked}";
                labels.Add(new PointLabel(RewardModelInputs.Text(input, $"[shop] Items above {asked}", sql), 1));
                labels.Add(new PointLabel(RewardModelInputs.Text(input, $"[shop] Items above {other}", sql), 0));
            }
            return labels;
        }
        double Agreement(RewardModelInput input, FeatureKind features)
        {
            using var rm = new ClassificationRewardModel(new RewardModelOptions { Features = features, Input = input, Hidden = 32, LearningRate = 3e-3, CharDim = 512, Seed = 1 });
            var train = Make(input, 150, 1);
            foreach (var batch in Data.Batches(train, 32, 120, seed: 2)) rm.TrainStep(batch);
            return rm.Evaluate(Make(input, 60, 3)).BalancedAccuracy;
        }

        var completionOnly = Agreement(RewardModelInput.Completion, FeatureKind.Chars);
        var pair = Agreement(RewardModelInput.PromptCompletion, FeatureKind.Pair);

        Assert.Equal(0.5, completionOnly, 9); // one decision per completion: right on one of its two labels
        Assert.True(pair >= 0.9, $"pair features: balanced accuracy {pair:P1}");
    }
}
