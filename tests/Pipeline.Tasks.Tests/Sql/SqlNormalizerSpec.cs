using Pipeline.Tasks.Sql;

namespace Pipeline.Tasks.Tests.Sql;

public sealed class SqlNormalizerSpec
{
    [Theory]
    [InlineData("select count(*) from customers where city = 'Lyon';", "SELECT COUNT(*) FROM customers WHERE city = 'Lyon'")]
    [InlineData("SELECT   COUNT( * )\n FROM\tCustomers WHERE city='Lyon' ;", "SELECT COUNT(*) FROM customers WHERE city = 'Lyon'")]
    [InlineData("SELECT name FROM customers -- comment\n WHERE age>30", "SELECT name FROM customers WHERE age > 30")]
    [InlineData("select c.name,c.age from customers c", "SELECT c.name, c.age FROM customers c")]
    public void Equivalent_spellings_must_normalise_alike(string a, string b)
        => Assert.Equal(SqlNormalizer.Normalize(b), SqlNormalizer.Normalize(a));

    [Fact]
    public void String_literal_contents_must_be_kept_exactly()
    {
        Assert.Equal("SELECT name FROM customers WHERE city = 'New  York ''select'''",
            SqlNormalizer.Normalize("select NAME from CUSTOMERS where CITY = 'New  York ''select''';"));
        Assert.NotEqual(SqlNormalizer.Normalize("SELECT 1 WHERE 'lyon' = 'x'"), SqlNormalizer.Normalize("SELECT 1 WHERE 'Lyon' = 'x'"));
    }

    [Fact]
    public void Different_queries_must_stay_different()
        => Assert.NotEqual(SqlNormalizer.Normalize("SELECT MAX(age) FROM customers"), SqlNormalizer.Normalize("SELECT MIN(age) FROM customers"));

    [Fact]
    public void Gold_sql_must_already_be_in_normal_form()
    {
        var data = SqlDatasetGenerator.Generate(new SqlDatasetOptions { Seed = 1, TrainCount = 200, HeldOutCount = 100 });
        Assert.All(data.All, e => Assert.Equal(e.GoldSql, SqlNormalizer.Normalize(e.GoldSql)));
    }
}
