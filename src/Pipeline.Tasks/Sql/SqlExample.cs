namespace Pipeline.Tasks.Sql;

/// <summary>One question/gold-SQL pair. <see cref="TemplateId"/> names the paraphrase template, e.g. <c>count_filter/ru/2</c>.</summary>
public sealed record SqlExample(
    string Id,
    string Split,
    string Language,
    string DbId,
    string QueryType,
    string TemplateId,
    string Question,
    string GoldSql);

/// <summary>Split names as they appear in <see cref="SqlExample.Split"/> and in the prompt's <c>split</c> tag.</summary>
public static class SqlSplits
{
    /// <summary>Demonstrations for the supervised warm-start.</summary>
    public const string Sft = "sft";
    /// <summary>RL prompts: train templates, entity values disjoint from <see cref="Sft"/>.</summary>
    public const string Rl = "rl";
    /// <summary>Held-out paraphrase templates and held-out entity values; never trained on.</summary>
    public const string HeldOut = "heldout";
}

/// <summary>Query families the generator produces; the prompt's <c>query_type</c> tag.</summary>
public static class SqlQueryTypes
{
    public const string CountFilter = "count_filter";
    public const string CountThreshold = "count_threshold";
    public const string ListFilter = "list_filter";
    public const string AggregateFilter = "agg_filter";
    public const string OrderLimit = "order_limit";
    public const string JoinCount = "join_count";
    public const string GroupCount = "group_count";

    public static readonly IReadOnlyList<string> All =
        [CountFilter, CountThreshold, ListFilter, AggregateFilter, OrderLimit, JoinCount, GroupCount];
}

/// <summary>Sizes and seed of the generated data set. Sft gets <see cref="SftShare"/> of <see cref="TrainCount"/>, Rl the rest.</summary>
public sealed record SqlDatasetOptions
{
    public int Seed { get; init; } = 1;
    /// <summary>Sft + Rl pairs.</summary>
    public int TrainCount { get; init; } = 2400;
    public int HeldOutCount { get; init; } = 600;
    /// <summary>Fraction of <see cref="TrainCount"/> that goes to Sft (default 2/3: 1600 Sft, 800 Rl).</summary>
    public double SftShare { get; init; } = 2.0 / 3.0;

    /// <summary>Which entity values RL prompts draw from (<see cref="SqlRlValues"/>).</summary>
    public SqlRlValues RlValues { get; init; } = SqlRlValues.Narrow;
    /// <summary>Which paraphrase templates RL prompts use (<see cref="SqlRlTemplates"/>).</summary>
    public SqlRlTemplates RlTemplates { get; init; } = SqlRlTemplates.All;

    public int SftCount => (int)Math.Round(TrainCount * SftShare);
    public int RlCount => TrainCount - SftCount;
}

/// <summary>The entity values RL prompts use; held-out values are never among them.</summary>
public enum SqlRlValues
{
    /// <summary>The Rl split's own share of every pool (~15 %): few values, each repeated across many prompts.</summary>
    Narrow,
    /// <summary>Also the ~70 % assigned to Sft, which no demonstration shows (demonstrations carry fresh values): the
    /// policy meets many more values and must copy them rather than memorise a few.</summary>
    Wide,
}

/// <summary>The paraphrase templates RL prompts use; held-out templates are never among them.</summary>
public enum SqlRlTemplates
{
    /// <summary>The demonstrations' templates and the RL-only ones.</summary>
    All,
    /// <summary>Only the RL-only templates, which no demonstration uses.</summary>
    RlOnly,
}
