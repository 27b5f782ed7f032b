using System.Collections.Concurrent;
using Pipeline.Core.Configuration;
using Pipeline.Core.Rewards;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Rewards.Tests.Rubrics;

/// <summary>Scoring: the formula, judge batching and failures, invalid signals, cancellation, and HOCON/JSON parity.</summary>
public sealed class RubricRewardSourceSpec : IDisposable
{
    readonly RubricTestKit _kit = new();

    static RubricPredicateRegistry Predicates() => new RubricPredicateRegistry()
        .Register("boom", i => i.Completion.Contains("boom") ? throw new InvalidOperationException("kaboom") : true);

    /// <summary>essential 5 (has A), important 3 (has B), optional 2 (has C), pitfall -2 (has X), pitfall -1 (has Y): positive weight 10.</summary>
    static readonly string[] Mixed =
    [
        "id = has_a, description = A, kind = essential, weight = 5, check = { type = contains, value = A }",
        "id = has_b, description = B, kind = important, weight = 3, check = { type = contains, value = B }",
        "id = has_c, description = C, kind = optional, weight = 2, check = { type = contains, value = C }",
        "id = has_x, description = X, kind = pitfall, weight = -2, check = { type = contains, value = X }",
        "id = has_y, description = Y, kind = pitfall, weight = -1, check = { type = regex, pattern = Y }",
    ];

    [Theory]
    [InlineData("ABC", 1.0, "has_a=1 has_b=1 has_c=1 has_x=0 has_y=0")]
    [InlineData("AC", 0.7, "has_a=1 has_b=0 has_c=1 has_x=0 has_y=0")]        // (5 + 2) / 10
    [InlineData("ACX", 0.5, "has_a=1 has_b=0 has_c=1 has_x=1 has_y=0")]       // (5 + 2 - 2) / 10
    [InlineData("ABCXY", 0.7, "has_a=1 has_b=1 has_c=1 has_x=1 has_y=1")]     // (10 - 3) / 10
    [InlineData("BY", 0.2, "has_a=0 has_b=1 has_c=0 has_x=0 has_y=1")]        // (3 - 1) / 10
    [InlineData("CXY", 0.0, "has_a=0 has_b=0 has_c=1 has_x=1 has_y=1")]       // (2 - 3) / 10 clipped to 0
    [InlineData("XY", 0.0, "has_a=0 has_b=0 has_c=0 has_x=1 has_y=1")]        // -3 / 10 clipped to 0
    [InlineData("", 0.0, "has_a=0 has_b=0 has_c=0 has_x=0 has_y=0")]
    public async Task The_score_must_be_the_weighted_sum_over_the_positive_weight_clipped_to_0_1(string completion, double expected, string details)
    {
        var source = RubricRewardSource.Load("rubric", _kit.Hocon(Mixed), Predicates());
        var signal = (await source.ScoreAsync(RubricTestKit.Group(completion), CancellationToken.None)).Single();

        Assert.True(signal.Valid);
        Assert.Equal(expected, signal.Value, precision: 12);
        Assert.Equal(details, signal.Details);
        Assert.Equal("rubric", signal.Source);
    }

    [Fact]
    public async Task A_json_and_a_hocon_file_of_the_same_rubric_must_give_identical_scores()
    {
        var hocon = _kit.Write("same.conf", """
            rubric {
              name = same
              criteria = [
                { id = select, description = "starts with SELECT", kind = essential, weight = 5, check { type = regex, pattern = "^select\\b", flags = [ignore-case] } }
                { id = limit, description = "has a LIMIT", kind = important, weight = 4, check { type = contains, value = ["LIMIT", "1.50"], ignore-case = true } }
                { id = short, description = "short", kind = optional, weight = 1.5, check { type = length, max-tokens = 8, min-chars = 5 } }
                { id = json, description = "json", kind = optional, weight = 1, check { type = json-schema, schema { type = object, required = [q], properties { q { type = string, maxLength = 20 } } } } }
                { id = drop, description = "drops", kind = pitfall, weight = -2, check { type = contains, value = DROP, ignore-case = false } }
                { id = clean, description = "no comments", kind = optional, weight = 1, check { type = excludes, value = ["--", ";"] } }
              ]
            }
            """);
        var json = _kit.Write("same.json", """
            {
              "rubric": {
                "name": "same",
                "criteria": [
                  { "id": "select", "description": "starts with SELECT", "kind": "essential", "weight": 5, "check": { "type": "regex", "pattern": "^select\\b", "flags": ["ignore-case"] } },
                  { "id": "limit", "description": "has a LIMIT", "kind": "important", "weight": 4, "check": { "type": "contains", "value": ["LIMIT", "1.50"], "ignore-case": true } },
                  { "id": "short", "description": "short", "kind": "optional", "weight": 1.5, "check": { "type": "length", "max-tokens": 8, "min-chars": 5 } },
                  { "id": "json", "description": "json", "kind": "optional", "weight": 1, "check": { "type": "json-schema", "schema": { "type": "object", "required": ["q"], "properties": { "q": { "type": "string", "maxLength": 20 } } } } },
                  { "id": "drop", "description": "drops", "kind": "pitfall", "weight": -2, "check": { "type": "contains", "value": "DROP", "ignore-case": false } },
                  { "id": "clean", "description": "no comments", "kind": "optional", "weight": 1, "check": { "type": "excludes", "value": ["--", ";"] } }
                ]
              }
            }
            """);
        var fromHocon = RubricRewardSource.Load("rubric", hocon, Predicates());
        var fromJson = RubricRewardSource.Load("rubric", json, Predicates());
        var group = RubricTestKit.Group("select a from t limit 1.50", "SELECT * FROM t", "{\"q\": \"select limit 1.50\"}",
            "DROP TABLE t;", "select a from t where b = 'a very long tail of words' limit 1.50", "", "{\"q\": 3}");

        var a = await fromHocon.ScoreAsync(group, CancellationToken.None);
        var b = await fromJson.ScoreAsync(group, CancellationToken.None);

        Assert.Equal(a.Select(s => (s.Value, s.Details)), b.Select(s => (s.Value, s.Details)));
        Assert.True(a.Select(s => s.Value).Distinct().Count() >= 4, string.Join(", ", a.Select(s => s.Value))); // the rubric discriminates
        Assert.All(a, s => Assert.True(s.Valid));
    }

    static string[] Principles(string batching) =>
    [
        "id = hard, description = h, kind = essential, weight = 5, check = { type = contains, value = ok }",
        "id = p1, description = a, kind = important, weight = 4, check = { type = principle, text = \"first principle\" }",
        "id = p2, description = b, kind = optional, weight = 1, check = { type = principle, text = \"second principle\" }",
        "id = p3, description = c, kind = pitfall, weight = -1, check = { type = principle, text = \"third principle\" }",
    ];

    [Theory]
    [InlineData("all-in-one", CriterionBatching.AllInOne, 3)]            // 3 rollouts x 1 request
    [InlineData("one-per-criterion", CriterionBatching.OnePerCriterion, 9)] // 3 rollouts x 3 principles
    public async Task Principles_must_go_to_the_judge_batched_as_the_rubric_says(string batching, CriterionBatching expected, int requests)
    {
        var path = _kit.Write(batching + ".conf", RubricTestKit.HoconText(Principles(batching), $"judge-batching = {batching}"));
        var judge = new FakeCriterionJudge((_, c) => c.Id != "p3");
        var source = RubricRewardSource.Load("rubric", path, Predicates(), judge);

        var signals = await source.ScoreAsync(RubricTestKit.Group("ok", "ok", "nope"), CancellationToken.None);

        Assert.Equal(RewardSourceKind.Slow, source.Kind);
        Assert.Equal(3, judge.Calls.Count); // one call per rollout, hard rules never go to the judge
        Assert.All(judge.Calls, c =>
        {
            Assert.Equal(expected, c.Batching);
            Assert.Equal(["p1", "p2", "p3"], c.Criteria.Select(x => x.Id));
            Assert.Equal(["first principle", "second principle", "third principle"], c.Criteria.Select(x => x.Text));
        });
        Assert.Equal(requests, judge.Requests);
        Assert.Equal([1.0, 1.0, 0.5], signals.Select(s => s.Value)); // (5 + 4 + 1) / 10 and (4 + 1) / 10
        Assert.Equal("hard=1 p1=1 p2=1 p3=0", signals[0].Details);
    }

    [Fact]
    public async Task A_null_judge_answer_must_make_the_signal_invalid_not_zero_or_one()
    {
        var judge = new FakeCriterionJudge((completion, c) => completion == "unsure" && c.Id == "p2" ? null : true);
        var source = RubricRewardSource.Load("rubric", _kit.Hocon(Principles("x")), Predicates(), judge);

        var signals = await source.ScoreAsync(RubricTestKit.Group("ok", "unsure"), CancellationToken.None);

        Assert.True(signals[0].Valid);
        Assert.False(signals[1].Valid);
        Assert.True(double.IsNaN(signals[1].Value));
        Assert.Contains("no usable answer for p2", signals[1].Details);
        Assert.Contains("p2=?", signals[1].Details);
    }

    [Fact]
    public async Task A_judge_that_throws_or_miscounts_must_make_the_signal_invalid()
    {
        var throwing = new ThrowingJudge();
        var source = RubricRewardSource.Load("rubric", _kit.Hocon(Principles("x")), Predicates(), throwing);
        var signal = (await source.ScoreAsync(RubricTestKit.Group("ok"), CancellationToken.None)).Single();
        Assert.False(signal.Valid);
        Assert.Contains("judge failed", signal.Details);

        var shortAnswer = new ShortJudge();
        var source2 = RubricRewardSource.Load("rubric", _kit.Hocon(Principles("x")), Predicates(), shortAnswer);
        var signal2 = (await source2.ScoreAsync(RubricTestKit.Group("ok"), CancellationToken.None)).Single();
        Assert.False(signal2.Valid);
        Assert.Contains("judge answered 1 of 3 criteria", signal2.Details);
    }

    [Fact]
    public async Task A_check_that_throws_must_make_only_that_rollouts_signal_invalid()
    {
        var path = _kit.Hocon(
            "id = safe, description = s, kind = essential, weight = 5, check = { type = predicate, name = boom }",
            "id = other, description = o, kind = optional, weight = 1, check = { type = contains, value = x }");
        var source = RubricRewardSource.Load("rubric", path, Predicates());

        var signals = await source.ScoreAsync(RubricTestKit.Group("x", "boom x", ""), CancellationToken.None);

        Assert.Equal([true, false, true], signals.Select(s => s.Valid));
        Assert.True(double.IsNaN(signals[1].Value));
        Assert.Contains("criterion 'safe' (predicate) threw InvalidOperationException: kaboom", signals[1].Details);
        Assert.Contains("safe=? other=1", signals[1].Details);
        Assert.Equal([1.0, 5 / 6.0], [signals[0].Value, signals[2].Value]);
    }

    [Fact]
    public void Principles_without_a_judge_must_fail_the_load_unless_marked_skip_without_judge()
    {
        var path = _kit.Hocon(Principles("x"));
        var e = Assert.Throws<ConfigException>(() => RubricRewardSource.Load("rubric", path, Predicates()));
        Assert.Contains(path, e.Message);
        Assert.Contains("(p1, p2, p3) that need a judge", e.Message);
        Assert.Contains("skip-without-judge", e.Message);

        var onlyPrinciples = _kit.Hocon("id = p, description = d, kind = essential, weight = 5, skip-without-judge = true, check = { type = principle, text = t }");
        Assert.Contains("no criterion with a positive weight is left",
            Assert.Throws<ConfigException>(() => RubricRewardSource.Load("rubric", onlyPrinciples, Predicates())).Message);
    }

    [Fact]
    public async Task Skip_without_judge_principles_must_be_left_out_of_the_score_and_noted_when_there_is_no_judge()
    {
        var criteria = new[]
        {
            "id = hard, description = h, kind = essential, weight = 5, check = { type = contains, value = ok }",
            "id = answers, description = a, kind = essential, weight = 5, skip-without-judge = true, check = { type = principle, text = t }",
        };
        var path = _kit.Hocon(criteria);
        var outcomes = new ConcurrentQueue<RubricOutcome>();

        var without = RubricRewardSource.Load("rubric", path, Predicates(), observer: outcomes.Enqueue);
        var signal = (await without.ScoreAsync(RubricTestKit.Group("ok"), CancellationToken.None)).Single();
        Assert.Equal(RewardSourceKind.Fast, without.Kind);
        Assert.Equal(["answers"], without.SkippedCriteria);
        Assert.Equal((1.0, "hard=1 answers=skipped"), (signal.Value, signal.Details));
        var logged = Assert.Single(outcomes).Criteria[1];
        Assert.True(logged.Skipped);
        Assert.Contains("no judge", logged.Note);

        var with = RubricRewardSource.Load("rubric", path, Predicates(), FakeCriterionJudge.Always(false));
        var judged = (await with.ScoreAsync(RubricTestKit.Group("ok"), CancellationToken.None)).Single();
        Assert.Equal(RewardSourceKind.Slow, with.Kind);
        Assert.Equal((0.5, "hard=1 answers=0"), (judged.Value, judged.Details));
    }

    [Fact]
    public async Task The_observer_must_get_one_structured_outcome_per_rollout()
    {
        var outcomes = new ConcurrentQueue<RubricOutcome>();
        var source = RubricRewardSource.Load("rubric", _kit.Hocon(Mixed), Predicates(), observer: o =>
        {
            outcomes.Enqueue(o);
            throw new InvalidOperationException("a broken logger must not change rewards");
        });

        var signals = await source.ScoreAsync(RubricTestKit.Group("AX", "ABC"), CancellationToken.None);

        Assert.All(signals, s => Assert.True(s.Valid));
        var byRollout = outcomes.OrderBy(o => o.RolloutId).ToArray();
        Assert.Equal(["r0", "r1"], byRollout.Select(o => o.RolloutId));
        Assert.Equal(("test", "p1", 0.3), (byRollout[0].Rubric, byRollout[0].PromptId, Math.Round(byRollout[0].Score, 12)));
        Assert.Equal([true, false, false, true, false], byRollout[0].Criteria.Select(c => c.Met == true));
        Assert.Equal([CriterionKind.Essential, CriterionKind.Important, CriterionKind.Optional, CriterionKind.Pitfall, CriterionKind.Pitfall],
            byRollout[0].Criteria.Select(c => c.Kind));
    }

    [Fact]
    public async Task Scoring_must_run_off_the_callers_thread_and_honour_cancellation()
    {
        using var release = new ManualResetEventSlim();
        var registry = new RubricPredicateRegistry().Register("slow", _ => release.Wait(TimeSpan.FromSeconds(10)));
        var path = _kit.Hocon("id = s, description = d, kind = essential, weight = 5, check = { type = predicate, name = slow }");
        var source = RubricRewardSource.Load("rubric", path, registry);
        Assert.Equal(RewardSourceKind.Fast, source.Kind);
        Assert.Equal((0.0, 1.0), source.Range);

        using var cts = new CancellationTokenSource();
        var pending = source.ScoreAsync(RubricTestKit.Group("a", "b"), cts.Token);
        Assert.False(pending.IsCompleted); // the blocking check runs on a pool thread, not inside ScoreAsync
        cts.Cancel();
        release.Set();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => source.ScoreAsync(RubricTestKit.Group("a"), cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            RubricRewardSource.Load("rubric", _kit.Hocon(Principles("x")), Predicates(), FakeCriterionJudge.Always(true))
                .ScoreAsync(RubricTestKit.Group("ok"), cancelled.Token));
    }

    sealed class ThrowingJudge : ICriterionJudge
    {
        public Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string completion, IReadOnlyList<JudgeCriterion> criteria,
            CriterionBatching batching, CancellationToken cancellationToken) => throw new HttpRequestException("critic unreachable");
    }

    sealed class ShortJudge : ICriterionJudge
    {
        public Task<IReadOnlyList<bool?>> JudgeCriteriaAsync(string prompt, string completion, IReadOnlyList<JudgeCriterion> criteria,
            CriterionBatching batching, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<bool?>>([true]);
    }

    public void Dispose() => _kit.Dispose();
}
