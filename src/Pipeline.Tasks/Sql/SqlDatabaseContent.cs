using System.Globalization;
using System.Text;

namespace Pipeline.Tasks.Sql;

/// <summary>
/// Entity pools and seeded row generation for the three databases (shop, school, library).
/// Every pool value occurs in the data, so questions about held-out values still have answers;
/// first names repeat and some numbers are NULL so result comparison has duplicates and NULLs to get right.
/// </summary>
internal static class SqlDatabaseContent
{
    public static readonly string[] Cities =
        ["Lyon", "Madrid", "Berlin", "Porto", "Oslo", "Riga", "Kyiv", "Lima", "Quito",
         "Tokyo", "Seoul", "Cairo", "Dakar", "Perth", "Austin", "Denver", "Milan", "Vienna"];
    public static readonly string[] Categories =
        ["toys", "garden", "sports", "music", "office", "kitchen", "games", "tools", "beauty", "pets", "shoes", "audio"];
    public static readonly string[] Departments =
        ["Physics", "Biology", "History", "Chemistry", "Law", "Economics", "Geology", "Medicine",
         "Ethics", "Logic", "Astronomy", "Ecology"];
    public static readonly string[] Countries =
        ["Peru", "Chile", "Norway", "Japan", "Kenya", "Italy", "Spain", "Canada", "Brazil", "Egypt", "Poland", "Ireland"];
    public static readonly string[] Genres =
        ["Poetry", "Drama", "Fantasy", "Mystery", "Romance", "Horror", "Satire", "Thriller", "Western", "Fable", "Memoir", "Comedy"];

    static readonly string[] FirstNames =
        ["Ana", "Ben", "Carla", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena", "Marco",
         "Nadia", "Omar", "Paula", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Xenia", "Yusuf", "Zoe"];
    static readonly string[] ProductAdjectives = ["Blue", "Smart", "Tiny", "Classic", "Rapid", "Soft"];
    static readonly string[] ProductNouns = ["Lamp", "Ball", "Chair", "Kit", "Box", "Set", "Pen", "Mug"];
    static readonly string[] CourseAdjectives = ["Applied", "Advanced", "Modern", "Basic", "Global", "Early"];
    static readonly string[] CourseNouns = ["Methods", "Theory", "Systems", "Studies", "Analysis", "Practice"];
    static readonly string[] BookAdjectives = ["Silent", "Hidden", "Last", "Red", "Lost", "Broken", "Golden", "Quiet"];
    static readonly string[] BookNouns = ["River", "Garden", "Letter", "Road", "Winter", "Mirror", "Island", "Promise"];

    public static IReadOnlyDictionary<string, SqlSchema> Build(Random rng)
    {
        var schemas = new[] { Shop(rng), School(rng), Library(rng) };
        return schemas.ToDictionary(s => s.Name, StringComparer.Ordinal);
    }

    static SqlSchema Shop(Random rng)
    {
        var b = new SchemaBuilder("shop");
        b.Create("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, age INTEGER)");
        b.Create("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL)");
        b.Create("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), "
                 + "product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL)");
        const int customers = 60, products = 36, orders = 240;
        for (var i = 1; i <= customers; i++)
            b.Insert("customers", i, Pick(rng, FirstNames), i <= Cities.Length ? Cities[i - 1] : Maybe(rng, 0.04, Pick(rng, Cities)),
                Maybe(rng, 0.08, (object)rng.Next(18, 80)));
        for (var i = 1; i <= products; i++)
            b.Insert("products", i, $"{Pick(rng, ProductAdjectives)} {Pick(rng, ProductNouns)}",
                i <= Categories.Length ? Categories[i - 1] : Pick(rng, Categories),
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
        const int students = 60, courses = 24, enrolments = 240;
        for (var i = 1; i <= students; i++)
            b.Insert("students", i, Pick(rng, FirstNames), i <= Cities.Length ? Cities[i - 1] : Pick(rng, Cities),
                Maybe(rng, 0.05, (object)rng.Next(17, 30)));
        for (var i = 1; i <= courses; i++)
            b.Insert("courses", i, $"{Pick(rng, CourseAdjectives)} {Pick(rng, CourseNouns)}",
                i <= Departments.Length ? Departments[i - 1] : Pick(rng, Departments), i <= 10 ? i : rng.Next(1, 11));
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
        const int authors = 30, books = 72, loans = 200;
        for (var i = 1; i <= authors; i++)
            b.Insert("authors", i, Pick(rng, FirstNames), i <= Countries.Length ? Countries[i - 1] : Pick(rng, Countries),
                Maybe(rng, 0.05, (object)rng.Next(1850, 1996)));
        for (var i = 1; i <= books; i++)
            b.Insert("books", i, $"The {Pick(rng, BookAdjectives)} {Pick(rng, BookNouns)}", i <= authors ? i : rng.Next(1, authors + 1),
                i <= Genres.Length ? Genres[i - 1] : Pick(rng, Genres), Maybe(rng, 0.08, (object)rng.Next(80, 901)));
        for (var i = 1; i <= loans; i++)
            b.Insert("loans", i, i <= books ? i : rng.Next(1, books + 1), Pick(rng, FirstNames), rng.Next(1, 43));
        return b.Build();
    }

    static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    static object? Maybe(Random rng, double nullProbability, object value) => rng.NextDouble() < nullProbability ? null : value;

    sealed class SchemaBuilder(string name)
    {
        readonly List<string> _tables = [];
        readonly List<string> _statements = [];

        public void Create(string ddl)
        {
            _tables.Add(ddl.Split(' ')[2]);
            _statements.Add(ddl);
        }

        public void Insert(string table, params object?[] values)
            => _statements.Add($"INSERT INTO {table} VALUES ({string.Join(", ", values.Select(Literal))})");

        public SqlSchema Build() => new(name, _tables.ToArray(), _statements.ToArray());

        static string Literal(object? v) => v switch
        {
            null => "NULL",
            string s => "'" + s.Replace("'", "''") + "'",
            double d => d.ToString("0.0#", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => throw new ArgumentException($"unsupported literal {v.GetType()}"),
        };
    }
}
