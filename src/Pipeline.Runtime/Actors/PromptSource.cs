using Akka.Actor;
using Pipeline.Core.Protocol;
using Pipeline.Runtime.Protocol;

namespace Pipeline.Runtime.Actors;

/// <summary>
/// Serves RL prompts in a seeded order, reshuffled every epoch. The cursor (prompts served so far) is the
/// data position a checkpoint stores, so a resumed run continues with the next prompt, not the first.
/// </summary>
public sealed class PromptSource : ReceiveActor
{
    private readonly IReadOnlyList<Prompt> _prompts;
    private readonly int _seed;
    private long _cursor;
    private int[] _order = [];
    private long _orderEpoch = -1;

    public PromptSource(IReadOnlyList<Prompt> prompts, int seed, long startCursor)
    {
        if (prompts.Count == 0) throw new ArgumentException("the task has no RL prompts", nameof(prompts));
        _prompts = prompts;
        _seed = seed;
        _cursor = startCursor;
        Receive<RequestPrompt>(_ => Sender.Tell(Next()));
    }

    public static Props Props(IReadOnlyList<Prompt> prompts, int seed, long startCursor)
        => Akka.Actor.Props.Create(() => new PromptSource(prompts, seed, startCursor));

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
