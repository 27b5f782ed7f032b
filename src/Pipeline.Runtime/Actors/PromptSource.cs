using Akka.Actor;
using Akka.Event;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Serves RL prompts in a seeded order, reshuffled every epoch. The cursor (prompts served so far) is the
/// data position a checkpoint stores, so a resumed run continues with the next prompt, not the first.
/// It remembers which prompt went to which credit; when the buffer reports a credit lost (<see cref="PromptSettled"/>:
/// released, expired, its generator or node died) that prompt is re-issued once, before any new one, so the work of a
/// dead generator is redone elsewhere. A prompt lost a second time is not re-issued again (a poison prompt cannot loop).
/// Both tables are bounded: <c>maxOutstanding</c> remembered credits (oldest forgotten first) and as many re-issues.
/// </summary>
public sealed class PromptSource : ReceiveActor
{
    private readonly IReadOnlyList<Prompt> _prompts;
    private readonly int _seed;
    private readonly int _maxOutstanding;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, (Prompt Prompt, bool Reissue)> _outstanding = new();
    private readonly Queue<long> _outstandingOrder = new();
    private readonly Queue<Prompt> _reissue = new();
    private long _cursor;
    private int[] _order = [];
    private long _orderEpoch = -1;

    public PromptSource(IReadOnlyList<Prompt> prompts, int seed, long startCursor, int maxOutstanding = 4096)
    {
        if (prompts.Count == 0) throw new ArgumentException("the task has no RL prompts", nameof(prompts));
        _prompts = prompts;
        _seed = seed;
        _cursor = startCursor;
        _maxOutstanding = maxOutstanding;
        Receive<RequestPrompt>(Assign);
        Receive<PromptSettled>(Settle);
    }

    public static Props Props(IReadOnlyList<Prompt> prompts, int seed, long startCursor, int maxOutstanding = 4096)
        => Akka.Actor.Props.Create(() => new PromptSource(prompts, seed, startCursor, maxOutstanding));

    private void Assign(RequestPrompt request)
    {
        PromptAssigned assigned;
        var reissue = false;
        if (_reissue.TryDequeue(out var again))
        {
            assigned = new PromptAssigned(again, _cursor, request.CreditId);
            reissue = true;
            _log.Info("Re-issuing prompt {0} (its first credit was lost)", again.Id);
        }
        else
        {
            assigned = Next() with { CreditId = request.CreditId };
        }
        if (request.CreditId != 0) Remember(request.CreditId, assigned.Prompt, reissue);
        Sender.Tell(assigned);
    }

    private void Remember(long creditId, Prompt prompt, bool reissue)
    {
        if (_outstanding.TryAdd(creditId, (prompt, reissue))) _outstandingOrder.Enqueue(creditId);
        while (_outstanding.Count > _maxOutstanding && _outstandingOrder.TryDequeue(out var oldest)) _outstanding.Remove(oldest);
        // The order queue may hold ids already settled; keep it from growing past twice the bound.
        if (_outstandingOrder.Count > 2 * _maxOutstanding)
        {
            var live = _outstandingOrder.Where(_outstanding.ContainsKey).ToList();
            _outstandingOrder.Clear();
            foreach (var id in live) _outstandingOrder.Enqueue(id);
        }
    }

    private void Settle(PromptSettled settled)
    {
        if (!_outstanding.Remove(settled.CreditId, out var entry) || !settled.Lost) return;
        if (entry.Reissue)
        {
            _log.Warning("Prompt {0} lost twice (credit {1}): not re-issued again", entry.Prompt.Id, settled.CreditId);
            return;
        }
        if (_reissue.Count >= _maxOutstanding) { _log.Warning("Re-issue queue full: prompt {0} not re-issued", entry.Prompt.Id); return; }
        _reissue.Enqueue(entry.Prompt);
    }

    private PromptAssigned Next()
    {
        var epoch = _cursor / _prompts.Count;
        if (epoch != _orderEpoch)
        {
            _order = Enumerable.Range(0, _prompts.Count).ToArray();
            new Random(unchecked(_seed * 1_000_003 + (int)epoch)).Shuffle(_order);
            _orderEpoch = epoch;
        }
        var prompt = _prompts[_order[(int)(_cursor % _prompts.Count)]];
        _cursor++;
        return new PromptAssigned(prompt, _cursor);
    }
}
