namespace Pipeline.Tasks.Sql;

/// <summary>
/// One table the questions talk about: which column is the name, which is the categorical filter, which is numeric,
/// which child table joins to it, and how each language names these things (the lexicon fills the templates).
/// </summary>
internal sealed record SqlTableProfile(
    string Db,
    string Table,
    string NameColumn,
    string TextColumn,
    string NumberColumn,
    IReadOnlyList<string> TextValues,
    IReadOnlyList<int> Thresholds,
    string ChildTable,
    string ChildForeignKey,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Lexicon)
{
    static IReadOnlyDictionary<string, string> L(params string[] pairs)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < pairs.Length; i += 2) d[pairs[i]] = pairs[i + 1];
        return d;
    }

    static IEnumerable<int> Range(int from, int to, int step)
    {
        for (var x = from; x <= to; x += step) yield return x;
    }

    // Lexicon keys: items (plural), name (the name column), num (numeric column), where (filter phrase with {v}),
    // child (child rows), text (the categorical column). Russian adds case forms: items_gen, num_gen, num_ins, child_gen, text_dat.
    public static readonly IReadOnlyList<SqlTableProfile> All =
    [
        new("shop", "customers", "name", "city", "age", SqlDatabaseContent.Cities, Range(20, 60, 2).ToArray(), "orders", "customer_id",
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["en"] = L("items", "customers", "name", "names", "num", "age", "where", "from {v}", "child", "orders", "text", "city"),
                ["es"] = L("items", "clientes", "name", "nombres", "num", "edad", "where", "de {v}", "child", "pedidos", "text", "ciudad"),
                ["de"] = L("items", "Kunden", "name", "Namen", "num", "Alter", "where", "aus {v}", "child", "Bestellungen", "text", "Stadt"),
                ["ru"] = L("items", "клиенты", "items_gen", "клиентов", "name", "имена", "num_gen", "возраста", "num_ins", "возрастом",
                    "where", "из города {v}", "child_gen", "заказов", "text_dat", "городам"),
            }),
        new("shop", "products", "name", "category", "price", SqlDatabaseContent.Categories, Range(25, 300, 25).ToArray(), "orders", "product_id",
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["en"] = L("items", "products", "name", "names", "num", "price", "where", "in category {v}", "child", "orders", "text", "category"),
                ["es"] = L("items", "productos", "name", "nombres", "num", "precio", "where", "de la categoría {v}", "child", "pedidos", "text", "categoría"),
                ["de"] = L("items", "Produkte", "name", "Namen", "num", "Preis", "where", "in der Kategorie {v}", "child", "Bestellungen", "text", "Kategorie"),
                ["ru"] = L("items", "товары", "items_gen", "товаров", "name", "названия", "num_gen", "цены", "num_ins", "ценой",
                    "where", "в категории {v}", "child_gen", "заказов", "text_dat", "категориям"),
            }),
        new("school", "students", "name", "city", "age", SqlDatabaseContent.Cities, Range(18, 27, 1).ToArray(), "enrolments", "student_id",
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["en"] = L("items", "students", "name", "names", "num", "age", "where", "from {v}", "child", "enrolments", "text", "city"),
                ["es"] = L("items", "estudiantes", "name", "nombres", "num", "edad", "where", "de {v}", "child", "registros de matrícula", "text", "ciudad"),
                ["de"] = L("items", "Studenten", "name", "Namen", "num", "Alter", "where", "aus {v}", "child", "Einschreibungen", "text", "Stadt"),
                ["ru"] = L("items", "студенты", "items_gen", "студентов", "name", "имена", "num_gen", "возраста", "num_ins", "возрастом",
                    "where", "из города {v}", "child_gen", "записей на курсы", "text_dat", "городам"),
            }),
        new("school", "courses", "title", "dept", "credits", SqlDatabaseContent.Departments, Range(1, 7, 1).ToArray(), "enrolments", "course_id",
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["en"] = L("items", "courses", "name", "titles", "num", "credits", "where", "in department {v}", "child", "enrolments", "text", "department"),
                ["es"] = L("items", "cursos", "name", "títulos", "num", "créditos", "where", "del departamento {v}", "child", "registros de matrícula", "text", "departamento"),
                ["de"] = L("items", "Kurse", "name", "Titel", "num", "ECTS", "where", "im Fachbereich {v}", "child", "Einschreibungen", "text", "Fachbereich"),
                ["ru"] = L("items", "курсы", "items_gen", "курсов", "name", "названия", "num_gen", "кредитов", "num_ins", "кредитами",
                    "where", "на кафедре {v}", "child_gen", "записей на курсы", "text_dat", "кафедрам"),
            }),
        new("library", "authors", "name", "country", "born", SqlDatabaseContent.Countries, Range(1870, 1970, 10).ToArray(), "books", "author_id",
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["en"] = L("items", "authors", "name", "names", "num", "birth year", "where", "from {v}", "child", "books", "text", "country"),
                ["es"] = L("items", "autores", "name", "nombres", "num", "año de nacimiento", "where", "de {v}", "child", "libros", "text", "país"),
                ["de"] = L("items", "Autoren", "name", "Namen", "num", "Geburtsjahr", "where", "aus {v}", "child", "Bücher", "text", "Land"),
                ["ru"] = L("items", "авторы", "items_gen", "авторов", "name", "имена", "num_gen", "года рождения", "num_ins", "годом рождения",
                    "where", "из страны {v}", "child_gen", "книг", "text_dat", "странам"),
            }),
        new("library", "books", "title", "genre", "pages", SqlDatabaseContent.Genres, Range(150, 750, 50).ToArray(), "loans", "book_id",
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["en"] = L("items", "books", "name", "titles", "num", "pages", "where", "of genre {v}", "child", "loans", "text", "genre"),
                ["es"] = L("items", "libros", "name", "títulos", "num", "páginas", "where", "del género {v}", "child", "préstamos", "text", "género"),
                ["de"] = L("items", "Bücher", "name", "Titel", "num", "Seitenzahl", "where", "im Genre {v}", "child", "Ausleihen", "text", "Genre"),
                ["ru"] = L("items", "книги", "items_gen", "книг", "name", "названия", "num_gen", "числа страниц", "num_ins", "числом страниц",
                    "where", "в жанре {v}", "child_gen", "выдач", "text_dat", "жанрам"),
            }),
    ];
}
