using System.Globalization;
using System.Text;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Entity pools and seeded row generation for the three databases (shop, school, library).
/// Every pool value occurs in the data (each city in at least two customers and two students, each category, department,
/// country and genre in at least two rows), so questions about held-out values still have answers;
/// first names repeat and some numbers are NULL so result comparison has duplicates and NULLs to get right.
/// Pools are large (<see cref="PoolSize"/> values each) so a model trained on the SFT split sees many distinct values
/// and has to copy the value from the question instead of memorising a handful.
/// </summary>
internal static class SqlDatabaseContent
{
    /// <summary>Values per text pool: the real names first, then pronounceable pseudo-words.</summary>
    public const int PoolSize = 120;

    // Declared (and so initialised) before the pools, which read them.
    static readonly string[] FirstNames =
        ["Ana", "Ben", "Carla", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena", "Marco",
         "Nadia", "Omar", "Paula", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Xenia", "Yusuf", "Zoe"];
    static readonly string[] ProductAdjectives = ["Blue", "Smart", "Tiny", "Classic", "Rapid", "Soft"];
    static readonly string[] ProductNouns = ["Lamp", "Ball", "Chair", "Kit", "Box", "Set", "Pen", "Mug"];
    static readonly string[] CourseAdjectives = ["Applied", "Advanced", "Modern", "Basic", "Global", "Early"];
    static readonly string[] CourseNouns = ["Methods", "Theory", "Systems", "Studies", "Analysis", "Practice"];
    static readonly string[] BookAdjectives = ["Silent", "Hidden", "Last", "Red", "Lost", "Broken", "Golden", "Quiet"];
    static readonly string[] BookNouns = ["River", "Garden", "Letter", "Road", "Winter", "Mirror", "Island", "Promise"];

    static readonly PseudoWords Words = new();

    public static readonly string[] Cities = Words.Pool(0xC17, capitalise: true,
        ["Lyon", "Madrid", "Berlin", "Porto", "Oslo", "Riga", "Kyiv", "Lima", "Quito",
         "Tokyo", "Seoul", "Cairo", "Dakar", "Perth", "Austin", "Denver", "Milan", "Vienna"]);
    public static readonly string[] Categories = Words.Pool(0xCA7, capitalise: false,
        ["toys", "garden", "sports", "music", "office", "kitchen", "games", "tools", "beauty", "pets", "shoes", "audio"]);
    public static readonly string[] Departments = Words.Pool(0xDE9, capitalise: true,
        ["Physics", "Biology", "History", "Chemistry", "Law", "Economics", "Geology", "Medicine",
         "Ethics", "Logic", "Astronomy", "Ecology"]);
    public static readonly string[] Countries = Words.Pool(0xC0, capitalise: true,
        ["Peru", "Chile", "Norway", "Japan", "Kenya", "Italy", "Spain", "Canada", "Brazil", "Egypt", "Poland", "Ireland"]);
    public static readonly string[] Genres = Words.Pool(0x63, capitalise: true,
        ["Poetry", "Drama", "Fantasy", "Mystery", "Romance", "Horror", "Satire", "Thriller", "Western", "Fable", "Memoir", "Comedy"]);

    /// <summary>
    /// An endless, deterministic (per seed) stream of fresh pseudo-words in the pool style, for the Sft demonstrations:
    /// never a value of any pool, never reserved (SQL keyword, table/column name, template or lexicon word, row name), and
    /// never repeated within one stream (case-insensitively), so every Sft example names a value the model has not seen.
    /// </summary>
    public sealed class FreshWords(int seed)
    {
        ulong _state = (0x5F7UL ^ (unchecked((ulong)(long)seed) << 16)) * 0x9E3779B97F4A7C15UL;
        readonly HashSet<string> _seen = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>The next fresh word; capitalised for proper nouns (cities, countries, ...), lower-case for categories.</summary>
        public string Next(bool capitalise) => Words.Fresh(ref _state, capitalise, _seen);
    }

    public static IReadOnlyDictionary<string, SqlSchema> Build(Random rng)
    {
        var schemas = new[] { Shop(rng), School(rng), Library(rng) };
        return schemas.ToDictionary(s => s.Name, StringComparer.Ordinal);
    }

    /// <summary>Row i (1-based) takes pool value (i-1) mod |pool| while i &lt;= guaranteed, so every value gets guaranteed/|pool| rows.</summary>
    static string Cycle(string[] pool, int i) => pool[(i - 1) % pool.Length];

    static SqlSchema Shop(Random rng)
    {
        var b = new SchemaBuilder("shop");
        b.Create("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, age INTEGER)");
        b.Create("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL)");
        b.Create("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), "
                 + "product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL)");
        int customers = 6 * Cities.Length, products = 6 * Categories.Length, orders = 3 * Math.Max(customers, products);
        for (var i = 1; i <= customers; i++)
            b.Insert("customers", i, Pick(rng, FirstNames), i <= 2 * Cities.Length ? Cycle(Cities, i) : Maybe(rng, 0.04, Pick(rng, Cities)),
                Maybe(rng, 0.08, (object)rng.Next(18, 80)));
        for (var i = 1; i <= products; i++)
            b.Insert("products", i, $"{Pick(rng, ProductAdjectives)} {Pick(rng, ProductNouns)}",
                i <= 2 * Categories.Length ? Cycle(Categories, i) : Pick(rng, Categories),
                Maybe(rng, 0.05, (object)Math.Round(5 + rng.NextDouble() * 395, 2)));
        for (var i = 1; i <= orders; i++)
            b.Insert("orders", i, i <= customers ? i : rng.Next(1, customers + 1),
                i <= products ? i : rng.Next(1, products + 1), rng.Next(1, 6));
        return b.Build();
    }

    static SqlSchema School(Random rng)
    {
        var b = new SchemaBuilder("school");
        b.Create("CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, age INTEGER)");
        b.Create("CREATE TABLE courses (id INTEGER PRIMARY KEY, title TEXT NOT NULL, dept TEXT NOT NULL, credits INTEGER NOT NULL)");
        b.Create("CREATE TABLE enrolments (id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL REFERENCES students(id), "
                 + "course_id INTEGER NOT NULL REFERENCES courses(id), score INTEGER)");
        int students = 6 * Cities.Length, courses = 5 * Departments.Length, enrolments = 3 * Math.Max(students, courses);
        for (var i = 1; i <= students; i++)
            b.Insert("students", i, Pick(rng, FirstNames), i <= 2 * Cities.Length ? Cycle(Cities, i) : Pick(rng, Cities),
                Maybe(rng, 0.05, (object)rng.Next(17, 30)));
        for (var i = 1; i <= courses; i++)
            b.Insert("courses", i, $"{Pick(rng, CourseAdjectives)} {Pick(rng, CourseNouns)}",
                i <= 2 * Departments.Length ? Cycle(Departments, i) : Pick(rng, Departments), i <= 10 ? i : rng.Next(1, 11));
        for (var i = 1; i <= enrolments; i++)
            b.Insert("enrolments", i, i <= students ? i : rng.Next(1, students + 1),
                i <= courses ? i : rng.Next(1, courses + 1), Maybe(rng, 0.1, (object)rng.Next(40, 101)));
        return b.Build();
    }

    static SqlSchema Library(Random rng)
    {
        var b = new SchemaBuilder("library");
        b.Create("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL, born INTEGER)");
        b.Create("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER NOT NULL REFERENCES authors(id), "
                 + "genre TEXT NOT NULL, pages INTEGER)");
        b.Create("CREATE TABLE loans (id INTEGER PRIMARY KEY, book_id INTEGER NOT NULL REFERENCES books(id), member TEXT NOT NULL, days INTEGER NOT NULL)");
        int authors = 5 * Countries.Length, books = 6 * Genres.Length, loans = 3 * books;
        for (var i = 1; i <= authors; i++)
            b.Insert("authors", i, Pick(rng, FirstNames), i <= 2 * Countries.Length ? Cycle(Countries, i) : Pick(rng, Countries),
                Maybe(rng, 0.05, (object)rng.Next(1850, 1996)));
        for (var i = 1; i <= books; i++)
            b.Insert("books", i, $"The {Pick(rng, BookAdjectives)} {Pick(rng, BookNouns)}", i <= authors ? i : rng.Next(1, authors + 1),
                i <= 2 * Genres.Length ? Cycle(Genres, i) : Pick(rng, Genres), Maybe(rng, 0.08, (object)rng.Next(80, 901)));
        for (var i = 1; i <= loans; i++)
            b.Insert("loans", i, i <= books ? i : rng.Next(1, books + 1), Pick(rng, FirstNames), rng.Next(1, 43));
        return b.Build();
    }

    static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    static object? Maybe(Random rng, double nullProbability, object value) => rng.NextDouble() < nullProbability ? null : value;

    /// <summary>
    /// Collects DDL and rows; consecutive rows of one table become multi-row INSERTs of up to <see cref="RowsPerInsert"/> rows,
    /// so the few thousand rows per database load in a few dozen statements.
    /// </summary>
    sealed class SchemaBuilder(string name)
    {
        const int RowsPerInsert = 200;
        readonly List<string> _tables = [];
        readonly List<string> _statements = [];
        string? _pendingTable;
        readonly List<string> _pendingRows = [];

        public void Create(string ddl)
        {
            Flush();
            _tables.Add(ddl.Split(' ')[2]);
            _statements.Add(ddl);
        }

        public void Insert(string table, params object?[] values)
        {
            if (_pendingTable != table || _pendingRows.Count == RowsPerInsert) Flush();
            _pendingTable = table;
            _pendingRows.Add($"({string.Join(", ", values.Select(Literal))})");
        }

        public SqlSchema Build()
        {
            Flush();
            return new(name, _tables.ToArray(), _statements.ToArray());
        }

        void Flush()
        {
            if (_pendingRows.Count > 0) _statements.Add($"INSERT INTO {_pendingTable} VALUES {string.Join(", ", _pendingRows)}");
            _pendingRows.Clear();
            _pendingTable = null;
        }

        static string Literal(object? v) => v switch
        {
            null => "NULL",
            string s => "'" + s.Replace("'", "''") + "'",
            double d => d.ToString("0.0#", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => throw new ArgumentException($"unsupported literal {v.GetType()}"),
        };
    }

    /// <summary>
    /// Pronounceable ASCII pseudo-words (2-3 consonant+vowel syllables, sometimes a closing consonant), 4-9 characters.
    /// Driven by a fixed SplitMix64 stream per pool, NOT by the run seed, so the names are the same in every run and .NET version.
    /// Words are unique across all pools (case-insensitively) and never equal an SQL keyword, a table or column name,
    /// a template or lexicon word, or a name used elsewhere in the rows.
    /// </summary>
    sealed class PseudoWords
    {
        static readonly string[] Onsets =
            ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "st", "tr", "sh"];
        static readonly string[] Vowels = ["a", "e", "i", "o", "u", "a", "o", "ai", "ei"];
        static readonly string[] Codas = ["n", "r", "s", "l", "m", "k"];

        static readonly string[] SqlWords =
            ["select", "from", "where", "and", "or", "not", "null", "in", "is", "as", "on", "join", "left", "right", "inner", "outer",
             "cross", "natural", "using", "group", "order", "by", "limit", "offset", "desc", "asc", "count", "avg", "max", "min", "sum",
             "total", "like", "glob", "between", "case", "when", "then", "else", "end", "having", "union", "all", "except", "intersect",
             "distinct", "exists", "insert", "into", "values", "update", "set", "delete", "create", "table", "drop", "alter", "index",
             "view", "primary", "key", "integer", "text", "real", "blob", "references", "cast", "true", "false", "with", "over",
             "round", "length", "lower", "upper", "abs", "coalesce", "ifnull", "nullif", "substr", "replace", "trim", "escape",
             "collate", "nocase", "rowid", "default", "check", "unique", "foreign", "pragma", "begin", "commit", "rollback",
             "customers", "products", "orders", "students", "courses", "enrolments", "authors", "books", "loans", "id", "name",
             "city", "age", "category", "price", "customer_id", "product_id", "quantity", "title", "dept", "credits", "student_id",
             "course_id", "score", "country", "born", "author_id", "genre", "pages", "book_id", "member", "days", "shop", "school",
             "library"];

        // Latin-script words of the per-table lexicons (SqlTableProfile), which cannot be read here without a static-init cycle.
        static readonly string[] LexiconWords =
            ["names", "birth", "year", "department", "enrolments", "titles", "clientes", "nombres", "edad", "pedidos", "ciudad",
             "kunden", "namen", "alter", "bestellungen", "stadt", "aus", "productos", "precio", "la", "de", "del", "categoria",
             "produkte", "preis", "der", "kategorie", "estudiantes", "registros", "matricula", "studenten", "einschreibungen",
             "cursos", "titulos", "creditos", "departamento", "kurse", "titel", "ects", "im", "fachbereich", "autores", "ano",
             "nacimiento", "libros", "pais", "autoren", "geburtsjahr", "land", "of", "paginas", "genero", "prestamos", "bucher",
             "seitenzahl", "ausleihen"];

        readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);
        readonly HashSet<string> _reserved = new(StringComparer.OrdinalIgnoreCase);

        public PseudoWords()
        {
            _reserved.UnionWith(SqlWords);
            _reserved.UnionWith(LexiconWords);
            var templateText = SqlQuestionTemplates.Families.Values.SelectMany(f => f.Values).SelectMany(l => l)
                .Concat(SqlQuestionTemplates.Condition.Values)
                .Concat(SqlQuestionTemplates.AggregateWords.Values.SelectMany(w => w));
            foreach (var text in templateText)
                _reserved.UnionWith(text.Split([' ', '{', '}', '?', '.', ',', ':', '¿', '-'], StringSplitOptions.RemoveEmptyEntries));
            _reserved.UnionWith(FirstNames.Concat(ProductAdjectives).Concat(ProductNouns).Concat(CourseAdjectives)
                .Concat(CourseNouns).Concat(BookAdjectives).Concat(BookNouns).Append("The"));
        }

        /// <summary>The real names (in order), then pseudo-words from the stream seeded by <paramref name="salt"/>, up to <see cref="PoolSize"/>.</summary>
        public string[] Pool(ulong salt, bool capitalise, string[] real)
        {
            var pool = new List<string>(PoolSize);
            foreach (var r in real)
            {
                if (!_used.Add(r)) throw new InvalidOperationException($"pool value '{r}' is used twice");
                pool.Add(r);
            }
            var state = salt * 0x9E3779B97F4A7C15UL;
            while (pool.Count < PoolSize)
            {
                var w = Word(ref state);
                if (w.Length is < 4 or > 9 || _reserved.Contains(w) || !_used.Add(w)) continue;
                pool.Add(capitalise ? char.ToUpperInvariant(w[0]) + w[1..] : w);
            }
            return pool.ToArray();
        }

        /// <summary>
        /// The next word of the stream at <paramref name="state"/> that is no pool value, not reserved and not yet in <paramref name="seen"/>.
        /// Only reads the shared sets (filled during static initialisation), so concurrent generators are safe.
        /// </summary>
        public string Fresh(ref ulong state, bool capitalise, HashSet<string> seen)
        {
            while (true)
            {
                var w = Word(ref state);
                if (w.Length is < 4 or > 9 || _reserved.Contains(w) || _used.Contains(w) || !seen.Add(w)) continue;
                return capitalise ? char.ToUpperInvariant(w[0]) + w[1..] : w;
            }
        }

        static string Word(ref ulong state)
        {
            var sb = new StringBuilder();
            var syllables = 2 + (int)(Next(ref state) % 2);
            for (var s = 0; s < syllables; s++)
                sb.Append(Onsets[Next(ref state) % (ulong)Onsets.Length]).Append(Vowels[Next(ref state) % (ulong)Vowels.Length]);
            if (Next(ref state) % 3 == 0) sb.Append(Codas[Next(ref state) % (ulong)Codas.Length]);
            return sb.ToString();
        }

        static ulong Next(ref ulong state)
        {
            var z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
