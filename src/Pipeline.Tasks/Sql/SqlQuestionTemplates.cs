using System.Text;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Paraphrase templates per query family and language. The LAST template of every list is held out:
/// it only ever appears in the held-out split, so held-out accuracy measures paraphrase generalisation.
/// Placeholders come from <see cref="SqlTableProfile.Lexicon"/> plus {v} (text value), {n} (threshold), {k} (limit),
/// {agg}; {filter} is {where} or {cond}; a capitalised placeholder ({Agg}) capitalises its value.
/// </summary>
internal static class SqlQuestionTemplates
{
    public static readonly IReadOnlyList<string> Languages = ["en", "es", "de", "ru"];

    /// <summary>Number of templates per (family, language); the last <see cref="HeldOutPerList"/> are held out.</summary>
    public const int PerList = 4;
    public const int HeldOutPerList = 1;

    public static bool IsHeldOut(int templateIndex) => templateIndex >= PerList - HeldOutPerList;

    /// <summary>Threshold phrase per language.</summary>
    public static readonly IReadOnlyDictionary<string, string> Condition = new Dictionary<string, string>
    {
        ["en"] = "with {num} above {n}",
        ["es"] = "con {num} mayor que {n}",
        ["de"] = "mit {num} über {n}",
        ["ru"] = "с {num_ins} больше {n}",
    };

    public static readonly IReadOnlyList<string> AggregateFunctions = ["AVG", "MAX", "MIN", "SUM"];

    /// <summary>Aggregate words, in <see cref="AggregateFunctions"/> order.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> AggregateWords = new Dictionary<string, string[]>
    {
        ["en"] = ["average", "maximum", "minimum", "total"],
        ["es"] = ["el promedio", "el máximo", "el mínimo", "la suma"],
        ["de"] = ["Durchschnitt", "Maximum", "Minimum", "Summe"],
        ["ru"] = ["среднее", "максимальное", "минимальное", "суммарное"],
    };

    /// <summary>Template family per query type: both count types share the count phrasings.</summary>
    public static string Family(string queryType) => queryType switch
    {
        SqlQueryTypes.CountFilter or SqlQueryTypes.CountThreshold => "count",
        SqlQueryTypes.ListFilter => "list",
        SqlQueryTypes.AggregateFilter => "agg",
        SqlQueryTypes.OrderLimit => "order",
        SqlQueryTypes.JoinCount => "join",
        SqlQueryTypes.GroupCount => "group",
        _ => throw new ArgumentException(queryType),
    };

    public static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, string[]>> Families =
        new Dictionary<string, IReadOnlyDictionary<string, string[]>>
        {
            ["count"] = new Dictionary<string, string[]>
            {
                ["en"] = ["How many {items} are there {filter}?", "Count the {items} {filter}.", "Number of {items} {filter}?",
                          "What is the count of {items} {filter}?"],
                ["es"] = ["¿Cuántos {items} hay {filter}?", "Cuenta los {items} {filter}.", "Número de {items} {filter}",
                          "¿Qué cantidad de {items} hay {filter}?"],
                ["de"] = ["Wie viele {items} gibt es {filter}?", "Zähle die {items} {filter}.", "Anzahl der {items} {filter}?",
                          "Wie groß ist die Anzahl der {items} {filter}?"],
                ["ru"] = ["Сколько {items_gen} {filter}?", "Подсчитай число {items_gen} {filter}.", "Число {items_gen} {filter}?",
                          "Какое количество {items_gen} {filter}?"],
            },
            ["list"] = new Dictionary<string, string[]>
            {
                ["en"] = ["List the {name} of {items} {where}.", "Show {name} of all {items} {where}.",
                          "Which {items} are {where}? Give {name}.", "Give me the {name} of {items} {where}."],
                ["es"] = ["Lista los {name} de los {items} {where}.", "Muestra los {name} de {items} {where}.",
                          "¿Qué {items} son {where}? Da sus {name}.", "Dame los {name} de los {items} {where}."],
                ["de"] = ["Liste die {name} der {items} {where}.", "Zeige {name} aller {items} {where}.",
                          "Welche {items} sind {where}? Nenne die {name}.", "Gib mir die {name} der {items} {where}."],
                ["ru"] = ["Перечисли {name} {items_gen} {where}.", "Покажи {name} всех {items_gen} {where}.",
                          "Какие {items} {where}? Дай {name}.", "Выведи {name} {items_gen} {where}."],
            },
            ["agg"] = new Dictionary<string, string[]>
            {
                ["en"] = ["What is the {agg} {num} of {items} {where}?", "{Agg} {num} for {items} {where}?",
                          "Compute the {agg} {num} of {items} {where}.", "Find the {agg} {num} among {items} {where}."],
                ["es"] = ["¿Cuál es {agg} de {num} de los {items} {where}?", "{Agg} de {num} para {items} {where}",
                          "Calcula {agg} de {num} de los {items} {where}.", "Obtén {agg} de {num} entre los {items} {where}."],
                ["de"] = ["{Agg} von {num} der {items} {where}?", "Berechne {agg} von {num} der {items} {where}.",
                          "Ermittle {agg} von {num} für {items} {where}.", "Gesucht: {agg} von {num} für alle {items} {where}."],
                ["ru"] = ["{Agg} значение {num_gen} {items_gen} {where}?", "Найди {agg} значение {num_gen} {items_gen} {where}.",
                          "Вычисли {agg} значение {num_gen} {items_gen} {where}.", "Каково {agg} значение {num_gen} {items_gen} {where}?"],
            },
            ["order"] = new Dictionary<string, string[]>
            {
                ["en"] = ["Top {k} {items} {where} by {num}: {name}?", "List the {name} of the {k} {items} {where} with the highest {num}.",
                          "Which {k} {items} {where} have the highest {num}?", "Name the {k} {items} {where} with the largest {num}."],
                ["es"] = ["Los {k} {items} {where} con mayor {num}: ¿{name}?", "Lista los {name} de los {k} {items} {where} con mayor {num}.",
                          "¿Qué {k} {items} {where} tienen mayor {num}?", "Nombra los {k} {items} {where} de mayor {num}."],
                ["de"] = ["Top {k} {items} {where} nach {num}?", "{k} {items} {where} mit höchstem {num}?",
                          "Zeige die {k} {items} {where}, absteigend nach {num}.", "Nenne die {k} {items} {where} mit Höchstwert bei {num}."],
                ["ru"] = ["Топ-{k} {items_gen} {where} по убыванию {num_gen}?", "Первые {k} {items_gen} {where} по убыванию {num_gen}.",
                          "Выведи {name} {k} {items_gen} {where}, сортируя по убыванию {num_gen}.",
                          "Назови {k} {items_gen} {where} с максимальным значением {num_gen}."],
            },
            ["join"] = new Dictionary<string, string[]>
            {
                ["en"] = ["How many {child} are there for {items} {where}?", "Count {child} of {items} {where}.",
                          "Number of {child} linked to {items} {where}?", "Total number of {child} belonging to {items} {where}?"],
                ["es"] = ["¿Cuántos {child} hay para {items} {where}?", "Cuenta los {child} de los {items} {where}.",
                          "Número de {child} asociados a {items} {where}", "Total de {child} que pertenecen a {items} {where}?"],
                ["de"] = ["Wie viele {child} gibt es für {items} {where}?", "Zähle die {child} der {items} {where}.",
                          "Anzahl der {child} zu {items} {where}?", "Gesamtzahl der {child} von {items} {where}?"],
                ["ru"] = ["Сколько {child_gen} у {items_gen} {where}?", "Подсчитай число {child_gen} для {items_gen} {where}.",
                          "Количество {child_gen} у {items_gen} {where}?", "Общее число {child_gen} для {items_gen} {where}?"],
            },
            ["group"] = new Dictionary<string, string[]>
            {
                ["en"] = ["For each {text}, count {items} {cond}.", "Count {items} {cond} per {text}.",
                          "Number of {items} {cond}, grouped by {text}.", "How many {items} {cond} are in each {text}?"],
                ["es"] = ["Para cada {text}, cuenta los {items} {cond}.", "Cuenta {items} {cond} por {text}.",
                          "Número de {items} {cond}, agrupados por {text}.", "¿Cuántos {items} {cond} hay en cada {text}?"],
                ["de"] = ["Zähle pro {text} die {items} {cond}.", "Anzahl der {items} {cond} je {text}?",
                          "{items} {cond}, gruppiert nach {text}, mit Anzahl.", "Wie viele {items} {cond} gibt es pro {text}?"],
                ["ru"] = ["Число {items_gen} {cond} по {text_dat}.", "Количество {items_gen} {cond} с группировкой по {text_dat}.",
                          "Сколько {items_gen} {cond} в разбивке по {text_dat}?", "Распределение {items_gen} {cond} по {text_dat} с подсчётом."],
            },
        };

    /// <summary>Substitutes placeholders until none is left (values may hold placeholders: {where} holds {v}); a sentence starts upper case.</summary>
    /// <remarks>A hand-rolled scanner rather than a regex: the generator fills tens of thousands of candidates per run.</remarks>
    public static string Fill(string template, IReadOnlyDictionary<string, string> values, bool sentence = false)
    {
        var text = template;
        for (var pass = 0; pass < 4 && text.Contains('{'); pass++)
            text = FillOnce(text, template, values);
        return sentence ? Capitalise(text) : text;
    }

    /// <summary>One pass of <c>\{(\w+)\}</c> substitution.</summary>
    static string FillOnce(string text, string template, IReadOnlyDictionary<string, string> values)
    {
        var sb = new StringBuilder(text.Length + 32);
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf('{', i);
            if (open < 0) { sb.Append(text, i, text.Length - i); break; }
            sb.Append(text, i, open - i);
            var close = open + 1;
            while (close < text.Length && IsWordChar(text[close])) close++;
            if (close == open + 1 || close >= text.Length || text[close] != '}')
            {
                sb.Append('{');
                i = open + 1;
                continue;
            }
            sb.Append(Lookup(text.Substring(open + 1, close - open - 1), template, values));
            i = close + 1;
        }
        return sb.ToString();
    }

    static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_' || char.GetUnicodeCategory(c) is
        System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.ConnectorPunctuation;

    static string Lookup(string key, string template, IReadOnlyDictionary<string, string> values)
    {
        if (values.TryGetValue(key, out var v)) return v;
        var lower = char.ToLowerInvariant(key[0]) + key[1..];
        if (lower != key && values.TryGetValue(lower, out v)) return Capitalise(v);
        throw new KeyNotFoundException($"no value for placeholder {{{key}}} in '{template}'");
    }

    static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
