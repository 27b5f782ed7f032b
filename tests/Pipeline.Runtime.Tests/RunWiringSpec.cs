using System.Collections.Immutable;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;
using Pipeline.Core.Tasks;
using Pipeline.Runtime.Actors;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Runtime.Tests;

/// <summary>
/// The rules local and cluster mode share through <see cref="RoleBuilders"/> and <see cref="RunTokenizer"/>: where the
/// buffer starts, how generators are seeded, and when a run folder's tokenizer is reused.
/// </summary>
public class RunWiringSpec : IDisposable
{
    /// <summary>A task whose tokenizer corpus is the given text, so two tasks train different tokenizers.</summary>
    private sealed class TextTask(string text) : IPipelineTask
    {
        public string Name => "text";
        public IReadOnlyList<Demonstration> Demonstrations { get; } = [];
        public IReadOnlyList<Prompt> RlPrompts { get; } = [new Prompt("p0", text, text, ImmutableDictionary<string, string>.Empty)];
        public IReadOnlyList<Demonstration> HeldOut { get; } = [];
        public IEnumerable<string> TokenizerCorpus => Enumerable.Repeat(text, 20);
        public IEnumerable<string> TokenizerAlphabet => [text];
        public IRewardSource CreateRewardSource(string name) => throw new ConfigException($"no '{name}'");
        public EvalReport Evaluate(IReadOnlyList<(Demonstration Example, string Prediction)> predictions) => new(new Dictionary<string, EvalScore>(), new(0, 0, 0));
        public void Dispose() { }
    }

    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-wiring-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PipelineSettings Settings(params string[] overrides) => PipelineSettings.Load(_dir, "local", null, ["policy.vocab-size=300", .. overrides]);

    private static Learner.ResumePoint At(string stage, long version, long floor) => new("ckpt", stage, 3, version, 0) { VersionFloor = floor };

    [Fact]
    public void The_buffer_starts_at_the_version_the_learner_publishes_first()
    {
        Assert.Equal(0, RoleBuilders.StartVersion(null));
        Assert.Equal(9, RoleBuilders.StartVersion(At(CheckpointStages.Grpo, version: 9, floor: 5)));
        Assert.Equal(12, RoleBuilders.StartVersion(At(CheckpointStages.Grpo, version: 9, floor: 12)));
        // A finished warm-start carries no GRPO version: the learner starts GRPO at the floor (a hand-over's), and so must the buffer.
        Assert.Equal(4, RoleBuilders.StartVersion(At(CheckpointStages.WarmStartDone, version: 7, floor: 4)));
    }

    [Fact]
    public void Every_generator_slot_gets_its_own_seed_and_the_run_seed_moves_them_all()
    {
        var s = Settings("seed=3");
        var seeds = Enumerable.Range(0, 64).Select(slot => RoleBuilders.GeneratorSeed(s, slot)).ToList();
        Assert.Equal(seeds.Count, seeds.Distinct().Count());
        Assert.NotEqual(RoleBuilders.GeneratorSeed(Settings("seed=4"), 1), RoleBuilders.GeneratorSeed(s, 1));
    }

    [Fact]
    public void A_resumed_run_reuses_the_run_folders_tokenizer_and_a_fresh_run_replaces_it()
    {
        var s = Settings();
        var first = RunTokenizer.Obtain(s, new TextTask("select name from users"), _dir, reuse: false);
        const string probe = "select name from users";

        var reused = RunTokenizer.Obtain(s, new TextTask("qqqq zzzz xxxx"), _dir, reuse: true);
        Assert.Equal(first.Encode(probe), reused.Encode(probe));

        var replaced = RunTokenizer.Obtain(s, new TextTask("qqqq zzzz xxxx"), _dir, reuse: false);
        Assert.NotEqual(first.Encode(probe), replaced.Encode(probe));
        Assert.Equal(replaced.Encode(probe), RunTokenizer.Load(s, _dir).Encode(probe));
        // Tokenizers are saved into a temporary folder and moved: none is left behind.
        Assert.Empty(Directory.GetDirectories(_dir, "tokenizer.tmp-*"));
    }
}
