using System.Diagnostics;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Rewards;

namespace Pipeline.Rewards.Rubrics;

/// <summary>
/// Rubrics-as-Rewards: scores each completion against a <see cref="Rubric"/>.
/// Hard rules are checked locally; principles go to the <see cref="ICriterionJudge"/> (one call per rollout with all of the
/// rubric's principles and its <see cref="Rubric.JudgeBatching"/>; the judge decides how many requests that takes).
/// Score = sum(weight * met) / sum(positive weights of the criteria in use), clipped to [0, 1]; details list every criterion.
/// <para>
/// Without a judge, principles marked <c>skip-without-judge</c> are left out of the score and shown as <c>id=skipped</c>;
/// any other principle makes the constructor throw. The source is <see cref="RewardSourceKind.Slow"/> when it asks a judge,
/// <see cref="RewardSourceKind.Fast"/> otherwise.
/// </para>
/// <para>
/// A rollout's signal is invalid (never 0) when a check throws, the judge throws, or the judge gives a null answer or the
/// wrong number of answers. Cancellation is honoured between checks and passed to the judge; it ends the call with
/// <see cref="OperationCanceledException"/>. Scoring runs on the thread pool, never on the caller's thread.
/// </para>
/// </summary>
public sealed class RubricRewardSource : IRewardSource
{
    private readonly ICriterionJudge? _judge;
    private readonly Action<RubricOutcome>? _observer;
    private readonly RubricCriterion[] _criteria;
    private readonly int[] _principleIndexes;
    private readonly JudgeCriterion[] _judgeCriteria;
    private readonly double _positiveWeight;

    /// <param name="name">The source name (its key under pipeline.rewards.sources); signals carry it.</param>
    /// <param name="judge">Answers principles; required when the rubric has principles not marked skip-without-judge.</param>
    /// <param name="observer">Called with every outcome (from a pool thread); exceptions it throws are ignored.</param>
    /// <exception cref="ConfigException">The rubric needs a judge and none was given, or nothing with a positive weight is left without one.</exception>
    public RubricRewardSource(string name, Rubric rubric, ICriterionJudge? judge = null, Action<RubricOutcome>? observer = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(rubric);
        Name = name;
        Rubric = rubric;
        _judge = judge;
        _observer = observer;
        _criteria = rubric.Criteria.ToArray();

        if (judge is null)
        {
            var needJudge = _criteria.Where(c => c.IsPrinciple && !c.SkipWithoutJudge).Select(c => c.Id).ToArray();
            if (needJudge.Length > 0)
                throw new ConfigException(
                    $"{rubric.Origin}: rubric '{rubric.Name}' has principle criteria ({string.Join(", ", needJudge)}) that need a judge, and reward source '{name}' has none; " +
                    "configure a critic for it, or mark them skip-without-judge = true");
        }
        SkippedCriteria = judge is null ? _criteria.Where(c => c.IsPrinciple).Select(c => c.Id).ToArray() : [];
        _principleIndexes = judge is null ? [] : Enumerable.Range(0, _criteria.Length).Where(i => _criteria[i].IsPrinciple).ToArray();
        _judgeCriteria = _principleIndexes.Select(i => new JudgeCriterion(_criteria[i].Id, ((PrincipleCheck)_criteria[i].Check).Text)).ToArray();
        _positiveWeight = _criteria.Where(c => c.Weight > 0 && !SkippedCriteria.Contains(c.Id)).Sum(c => c.Weight);
        if (_positiveWeight <= 0)
            throw new ConfigException($"{rubric.Origin}: without a judge no criterion with a positive weight is left in rubric '{rubric.Name}'");
        Kind = _judgeCriteria.Length > 0 ? RewardSourceKind.Slow : RewardSourceKind.Fast;
    }

    /// <summary>Loads the rubric file (HOCON or JSON, see <see cref="RubricFile"/>) and builds the source.</summary>
    /// <exception cref="ConfigException">The file is not a valid rubric, or it needs a judge and none was given.</exception>
    public static RubricRewardSource Load(string name, string path, RubricPredicateRegistry predicates,
        ICriterionJudge? judge = null, Action<RubricOutcome>? observer = null)
        => new(name, RubricFile.Load(path, predicates), judge, observer);

    public string Name { get; }
    public RewardSourceKind Kind { get; }
    public (double Min, double Max) Range => (0, 1);
    public Rubric Rubric { get; }
    /// <summary>Ids of the principles left out because there is no judge.</summary>
    public IReadOnlyList<string> SkippedCriteria { get; }

    public Task<IReadOnlyList<RewardSignal>> ScoreAsync(RolloutGroup group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        return Task.Run<IReadOnlyList<RewardSignal>>(async () =>
        {
            // Hard rules run one rollout after another on this pool thread; judge calls overlap.
            var outcomes = await Task.WhenAll(group.Rollouts.Select(r =>
                EvaluateCoreAsync(new RubricInput(group.Prompt, r.CompletionText, r.Truncated), r.RolloutId, cancellationToken))).ConfigureAwait(false);
            return outcomes.Select(o => o.ToSignal()).ToArray();
        }, cancellationToken);
    }

    /// <summary>Scores one completion outside a rollout group (evaluation, tools, tests).</summary>
    public Task<RubricOutcome> EvaluateAsync(RubricInput input, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Task.Run(() => EvaluateCoreAsync(input, null, cancellationToken), cancellationToken);
    }

    private async Task<RubricOutcome> EvaluateCoreAsync(RubricInput input, string? rolloutId, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var met = new bool?[_criteria.Length];
        var notes = new string?[_criteria.Length];
        string? failure = null;

        for (var i = 0; i < _criteria.Length; i++)
        {
            if (_criteria[i].Check is not HardRuleCheck hard) continue;
            cancellationToken.ThrowIfCancellationRequested();
            try { met[i] = hard.IsMet(input); }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
            catch (Exception e)
            {
                notes[i] = $"{e.GetType().Name}: {e.Message}";
                failure ??= $"criterion '{_criteria[i].Id}' ({hard.Type}) threw {notes[i]}";
            }
        }

        if (failure is null && _judgeCriteria.Length > 0)
            failure = await JudgeAsync(input, met, notes, cancellationToken).ConfigureAwait(false);

        var outcomes = new CriterionOutcome[_criteria.Length];
        for (var i = 0; i < _criteria.Length; i++)
        {
            var c = _criteria[i];
            var skipped = c.IsPrinciple && _judge is null;
            outcomes[i] = new CriterionOutcome(c.Id, c.Kind, c.Weight, met[i], skipped, skipped ? "skipped: no judge configured" : notes[i]);
        }

        var score = double.NaN;
        if (failure is null)
        {
            var sum = 0.0;
            for (var i = 0; i < _criteria.Length; i++)
                if (met[i] == true) sum += _criteria[i].Weight;
            score = Math.Clamp(sum / _positiveWeight, 0, 1);
        }
        var outcome = new RubricOutcome(Name, Rubric.Name, input.Prompt.Id, rolloutId, failure is null, score, failure, outcomes,
            Stopwatch.GetElapsedTime(started));
        if (_observer is not null)
        {
            try { _observer(outcome); }
            catch (Exception) { /* logging must not change a reward */ }
        }
        return outcome;
    }

    /// <summary>Fills in the principles' answers; returns the failure reason, or null when every answer is usable.</summary>
    private async Task<string?> JudgeAsync(RubricInput input, bool?[] met, string?[] notes, CancellationToken cancellationToken)
    {
        IReadOnlyList<bool?>? answers;
        try
        {
            answers = await _judge!.JudgeCriteriaAsync(input.Prompt.Text, input.Completion, _judgeCriteria, Rubric.JudgeBatching, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
        catch (Exception e)
        {
            foreach (var i in _principleIndexes) notes[i] = "judge failed";
            return $"judge failed: {e.GetType().Name}: {e.Message}";
        }
        if (answers is null || answers.Count != _judgeCriteria.Length)
            return $"judge answered {answers?.Count ?? 0} of {_judgeCriteria.Length} criteria";

        var unanswered = new List<string>();
        for (var k = 0; k < _principleIndexes.Length; k++)
        {
            var i = _principleIndexes[k];
            met[i] = answers[k];
            if (answers[k] is null)
            {
                notes[i] = "no usable answer from the judge";
                unanswered.Add(_criteria[i].Id);
            }
        }
        return unanswered.Count == 0 ? null : $"judge gave no usable answer for {string.Join(", ", unanswered)}";
    }
}
