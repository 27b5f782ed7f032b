using System.Text;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Paraphrase templates per query family and language. The LAST <see cref="HeldOutPerList"/> templates of every list are
/// held out: they only ever appear in the held-out split, so held-out accuracy measures paraphrase generalisation.
/// Placeholders come from <see cref="SqlTableProfile.Lexicon"/> plus {v} (text value), {n} (threshold), {k} (limit),
/// {agg}; {filter} is {where} or {cond}; a capitalised placeholder ({Agg}) capitalises its value.
/// </summary>
internal static class SqlQuestionTemplates
{
    public static readonly IReadOnlyList<string> Languages = ["en", "es", "de", "ru"];

    /// <summary>Number of templates per (family, language); the last <see cref="HeldOutPerList"/> are held out.</summary>
    public const int PerList = 8;
    public const int HeldOutPerList = 2;

    public static bool IsHeldOut(int templateIndex) => templateIndex >= PerList - HeldOutPerList;

    /// <summary>
    /// The templates just before the held-out ones appear only in RL prompts, never in demonstrations: RL data
    /// (questions with checkable answers) is broader than SFT data, and GRPO has paraphrases to generalise on.
    /// </summary>
    public const int RlOnlyPerList = 2;

    /// <summary>Whether a split may use the template at <paramref name="templateIndex"/>.</summary>
    public static bool UsableIn(string split, int templateIndex) => split switch
    {
        SqlSplits.HeldOut => IsHeldOut(templateIndex),
        SqlSplits.Rl => !IsHeldOut(templateIndex),
        _ => templateIndex < PerList - HeldOutPerList - RlOnlyPerList,
    };

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

    // Each list: 8 paraphrases; indices 0-5 train, 6-7 (the last HeldOutPerList) are held out.
    public static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, string[]>> Families =
        new Dictionary<string, IReadOnlyDictionary<string, string[]>>
        {
            ["count"] = new Dictionary<string, string[]>
            {
                ["en"] = ["How many {items} are there {filter}?", "Count the {items} {filter}.", "Number of {items} {filter}?",
                          "What is the count of {items} {filter}?", "How many {items} {filter} exist?",
                          "Tell me how many {items} there are {filter}.",
                          "What is the number of {items} {filter}?", "Find the number of {items} {filter}."],
                ["es"] = ["¿Cuántos {items} hay {filter}?", "Cuenta los {items} {filter}.", "Número de {items} {filter}",
                          "¿Qué cantidad de {items} hay {filter}?", "¿Cuántos {items} {filter} existen?",
                          "Dime cuántos {items} hay {filter}.",
                          "¿Cuál es el número de {items} {filter}?", "Calcula cuántos {items} hay {filter}."],
                ["de"] = ["Wie viele {items} gibt es {filter}?", "Zähle die {items} {filter}.", "Anzahl der {items} {filter}?",
                          "Wie groß ist die Anzahl der {items} {filter}?", "Wie viele {items} {filter} gibt es?",
                          "Ermittle die Zahl der {items} {filter}.",
                          "Wie hoch ist die Anzahl der {items} {filter}?", "Sag mir, wie viele {items} es {filter} gibt."],
                ["ru"] = ["Сколько {items_gen} {filter}?", "Подсчитай число {items_gen} {filter}.", "Число {items_gen} {filter}?",
                          "Каково количество {items_gen} {filter}?", "Сколько всего {items_gen} {filter}?",
                          "Посчитай, сколько {items_gen} {filter}.",
                          "Сколько имеется {items_gen} {filter}?", "Определи количество {items_gen} {filter}."],
            },
            ["list"] = new Dictionary<string, string[]>
            {
                ["en"] = ["List the {name} of {items} {where}.", "Show the {name} of all {items} {where}.",
                          "Which {items} are {where}? Give their {name}.", "Give me the {name} of {items} {where}.",
                          "What are the {name} of the {items} {where}?", "Return the {name} of all {items} {where}.",
                          "I need the {name} of the {items} {where}.", "Display the {name} for {items} {where}."],
                ["es"] = ["Lista los {name} de los {items} {where}.", "Muestra los {name} de todos los {items} {where}.",
                          "¿Qué {items} son {where}? Da sus {name}.", "Dame los {name} de los {items} {where}.",
                          "¿Cuáles son los {name} de los {items} {where}?", "Enumera los {name} de todos los {items} {where}.",
                          "Quiero ver los {name} de los {items} {where}.", "Indica los {name} de los {items} {where}."],
                ["de"] = ["Liste die {name} der {items} {where} auf.", "Zeige die {name} aller {items} {where}.",
                          "Welche {items} sind {where}? Nenne ihre {name}.", "Gib mir die {name} der {items} {where}.",
                          "Wie lauten die {name} der {items} {where}?", "Nenne die {name} aller {items} {where}.",
                          "Ich brauche die {name} der {items} {where}.", "Welche {name} haben die {items} {where}?"],
                ["ru"] = ["Перечисли {name} {items_gen} {where}.", "Покажи {name} всех {items_gen} {where}.",
                          "Какие {items} {where}? Назови их {name}.", "Выведи {name} {items_gen} {where}.",
                          "Каковы {name} {items_gen} {where}?", "Назови {name} всех {items_gen} {where}.",
                          "Мне нужны {name} {items_gen} {where}.", "Какие {name} у {items_gen} {where}?"],
            },
            ["agg"] = new Dictionary<string, string[]>
            {
                ["en"] = ["What is the {agg} {num} of {items} {where}?", "{Agg} {num} for {items} {where}?",
                          "Compute the {agg} {num} of {items} {where}.", "Find the {agg} {num} among {items} {where}.",
                          "Tell me the {agg} {num} of all {items} {where}.", "Calculate the {agg} {num} across {items} {where}.",
                          "For {items} {where}, what is the {agg} {num}?", "Give the {agg} {num} of the {items} {where}."],
                ["es"] = ["¿Cuál es {agg} de {num} de los {items} {where}?", "{Agg} de {num} para los {items} {where}",
                          "Calcula {agg} de {num} de los {items} {where}.", "Obtén {agg} de {num} entre los {items} {where}.",
                          "Dime {agg} de {num} de todos los {items} {where}.", "Para los {items} {where}, ¿cuál es {agg} de {num}?",
                          "Necesito {agg} de {num} de los {items} {where}.", "¿Me puedes dar {agg} de {num} de los {items} {where}?"],
                ["de"] = ["{Agg} von {num} der {items} {where}?", "Berechne für die {items} {where}: {Agg} von {num}.",
                          "{num} der {items} {where}: {Agg}?", "Gesucht: {Agg} von {num} für alle {items} {where}.",
                          "Kennzahl {Agg} für {num} aller {items} {where}?", "Ich brauche die Kennzahl {Agg} für {num} der {items} {where}.",
                          "Was ergibt sich als {Agg} von {num} der {items} {where}?", "Ermittle für die {items} {where} den Wert {Agg} von {num}."],
                ["ru"] = ["{Agg} значение {num_gen} {items_gen} {where}?", "Найди {agg} значение {num_gen} {items_gen} {where}.",
                          "Вычисли {agg} значение {num_gen} {items_gen} {where}.", "Каково {agg} значение {num_gen} {items_gen} {where}?",
                          "Определи {agg} значение {num_gen} для {items_gen} {where}.", "Чему равно {agg} значение {num_gen} {items_gen} {where}?",
                          "Посчитай {agg} значение {num_gen} среди {items_gen} {where}.", "Какое {agg} значение {num_gen} у {items_gen} {where}?"],
            },
            ["order"] = new Dictionary<string, string[]>
            {
                ["en"] = ["Top {k} {items} {where} by {num}: {name}?", "List the {name} of the {k} {items} {where} with the highest {num}.",
                          "Which {k} {items} {where} have the highest {num}?", "Name the {k} {items} {where} with the largest {num}.",
                          "Show the {k} {items} {where} with the greatest {num}.", "What are the {k} {items} {where} with the highest {num}?",
                          "Which {k} {items} {where} rank highest by {num}?", "Sort {items} {where} by {num}, descending, and give the top {k}."],
                ["es"] = ["Los {k} {items} {where} con mayor {num}: ¿{name}?", "Lista los {name} de los {k} {items} {where} con mayor {num}.",
                          "¿Qué {k} {items} {where} tienen mayor {num}?", "Nombra los {k} {items} {where} de mayor {num}.",
                          "Muestra los {k} {items} {where} con el valor más alto de {num}.", "¿Cuáles son los {k} {items} {where} con mayor {num}?",
                          "Dame los {k} {items} {where} con mayor {num}.", "Ordena los {items} {where} por {num} descendente y da los {k} primeros."],
                ["de"] = ["Top {k} der {items} {where} nach {num}?", "Die {k} {items} {where} mit dem höchsten Wert bei {num}?",
                          "Zeige die {k} {items} {where}, absteigend sortiert nach {num}.", "Nenne die {k} {items} {where} mit den höchsten Werten bei {num}.",
                          "Welche {k} {items} {where} haben die höchsten Werte bei {num}?",
                          "Sortiere die {items} {where} nach {num} absteigend, nur die ersten {k}.",
                          "Welche {k} {items} {where} stehen bei {num} ganz oben?", "Ermittle die {k} {items} {where} mit den größten Werten bei {num}."],
                ["ru"] = ["Топ-{k} {items_gen} {where} по убыванию {num_gen}?", "Первые {k} {items_gen} {where} по убыванию {num_gen}.",
                          "Выведи {name} {k} {items_gen} {where}, сортируя по убыванию {num_gen}.",
                          "Назови {k} {items_gen} {where} с наибольшим значением {num_gen}.",
                          "Какие {k} {items_gen} {where} имеют наибольшее значение {num_gen}?",
                          "Покажи {k} {items_gen} {where} с самым высоким значением {num_gen}.",
                          "Найди {k} {items_gen} {where} с максимальным значением {num_gen}.",
                          "Отсортируй по убыванию {num_gen} и выведи первые {k} {items_gen} {where}."],
            },
            ["join"] = new Dictionary<string, string[]>
            {
                ["en"] = ["How many {child} are there for {items} {where}?", "Count the {child} of {items} {where}.",
                          "Number of {child} linked to {items} {where}?", "Total number of {child} belonging to {items} {where}?",
                          "How many {child} do {items} {where} have?", "Count all {child} associated with {items} {where}.",
                          "What is the number of {child} for the {items} {where}?", "How many {child} belong to {items} {where}?"],
                ["es"] = ["¿Cuántos {child} hay para los {items} {where}?", "Cuenta los {child} de los {items} {where}.",
                          "Número de {child} asociados a los {items} {where}", "Total de {child} que pertenecen a los {items} {where}.",
                          "¿Cuántos {child} tienen los {items} {where}?", "Calcula el número de {child} de los {items} {where}.",
                          "¿Cuántos {child} corresponden a los {items} {where}?", "Dime cuántos {child} tienen los {items} {where}."],
                ["de"] = ["Wie viele {child} gibt es für die {items} {where}?", "Zähle die {child} der {items} {where}.",
                          "Anzahl der {child} für die {items} {where}?", "Gesamtzahl der {child} aller {items} {where}?",
                          "Wie viele {child} haben die {items} {where}?", "Ermittle die Anzahl der {child} für die {items} {where}.",
                          "Wie viele {child} entfallen auf die {items} {where}?", "Zähle alle {child} der {items} {where}."],
                ["ru"] = ["Сколько {child_gen} у {items_gen} {where}?", "Подсчитай число {child_gen} для {items_gen} {where}.",
                          "Количество {child_gen} у {items_gen} {where}?", "Общее число {child_gen} для {items_gen} {where}?",
                          "Сколько всего {child_gen} у {items_gen} {where}?", "Определи количество {child_gen} у {items_gen} {where}.",
                          "Каково число {child_gen} у {items_gen} {where}?", "Найди общее количество {child_gen} для {items_gen} {where}."],
            },
            ["group"] = new Dictionary<string, string[]>
            {
                ["en"] = ["For each {text}, count {items} {cond}.", "Count {items} {cond} per {text}.",
                          "Number of {items} {cond}, grouped by {text}.", "How many {items} {cond} are in each {text}?",
                          "Break down the number of {items} {cond} by {text}.", "Show the count of {items} {cond} for every {text}.",
                          "Per {text}, how many {items} are there {cond}?", "Group {items} {cond} by {text} and count them."],
                ["es"] = ["Para cada {text}, cuenta los {items} {cond}.", "Cuenta {items} {cond} por {text}.",
                          "Número de {items} {cond}, agrupados por {text}.", "¿Cuántos {items} {cond} hay en cada {text}?",
                          "Desglosa por {text} el número de {items} {cond}.", "Muestra cuántos {items} {cond} hay por {text}.",
                          "Agrupa los {items} {cond} por {text} y cuéntalos.", "¿Qué cantidad de {items} {cond} hay en cada {text}?"],
                ["de"] = ["Zähle pro {text} die {items} {cond}.", "Anzahl der {items} {cond} je {text}?",
                          "Gruppiere die {items} {cond} nach {text} und zähle sie.", "Wie viele {items} {cond} gibt es pro {text}?",
                          "Ermittle je {text} die Anzahl der {items} {cond}.", "Liefere die Anzahl der {items} {cond}, gruppiert nach {text}.",
                          "Zähle die {items} {cond}, aufgeschlüsselt nach {text}.", "Wie viele {items} {cond} gibt es, getrennt nach {text}?"],
                ["ru"] = ["Число {items_gen} {cond} по {text_dat}.", "Количество {items_gen} {cond} с группировкой по {text_dat}.",
                          "Сколько {items_gen} {cond} в разбивке по {text_dat}?", "Подсчитай распределение {items_gen} {cond} по {text_dat}.",
                          "Сгруппируй по {text_dat} и посчитай количество {items_gen} {cond}.",
                          "Количество {items_gen} {cond} отдельно по {text_dat}?",
                          "Подсчитай количество {items_gen} {cond} по {text_dat}.", "Сколько {items_gen} {cond} насчитывается по {text_dat}?"],
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
