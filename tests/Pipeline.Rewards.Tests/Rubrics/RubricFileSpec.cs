using Pipeline.Core.Configuration;
using Pipeline.Rewards.Rubrics;

namespace Pipeline.Rewards.Tests.Rubrics;

/// <summary>Loading: the format's rules, and load errors that name the file, the criterion and the fault.</summary>
public sealed class RubricFileSpec : IDisposable
{
    readonly RubricTestKit _kit = new();

    static readonly RubricPredicateRegistry Predicates = new RubricPredicateRegistry()
        .Register("sql-parses", _ => true)
        .Register("known-tables", _ => true);

    const string Ok = "id = ok, description = fine, kind = essential, weight = 5, check = { type = contains, value = x }";

    ConfigException LoadFails(params string[] criteria)
    {
        var path = _kit.Hocon(criteria);
        var e = Assert.Throws<ConfigException>(() => RubricFile.Load(path, Predicates));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Theory]
    [InlineData("essential", 4)]
    [InlineData("essential", -5)]
    [InlineData("important", 5)]
    [InlineData("important", 2)]
    [InlineData("optional", 3)]
    [InlineData("optional", 0)]
    [InlineData("pitfall", 1)]
    [InlineData("pitfall", -3)]
    [InlineData("pitfall", 0)]
    public void A_weight_that_does_not_match_its_kind_must_fail_naming_the_file_and_the_criterion(string kind, double weight)
    {
        var e = LoadFails(Ok, $"id = off_scale, description = d, kind = {kind}, weight = {weight.ToString(System.Globalization.CultureInfo.InvariantCulture)}, check = {{ type = contains, value = x }}");
        Assert.Contains("criterion 'off_scale'", e.Message);
        Assert.Contains($"does not match kind {kind}", e.Message);
    }

    [Theory]
    [InlineData("essential", 5)]
    [InlineData("important", 3)]
    [InlineData("important", 3.5)]
    [InlineData("important", 4)]
    [InlineData("optional", 1)]
    [InlineData("optional", 2)]
    [InlineData("pitfall", -1)]
    [InlineData("pitfall", -2)]
    public void Weights_within_their_kinds_range_must_load(string kind, double weight)
    {
        var rubric = RubricFile.Load(_kit.Hocon(Ok, $"id = w, description = d, kind = {kind}, weight = {weight.ToString(System.Globalization.CultureInfo.InvariantCulture)}, check = {{ type = contains, value = x }}"), Predicates);
        Assert.Equal(weight, rubric.Criteria[1].Weight);
    }

    [Fact]
    public void An_unregistered_predicate_must_fail_naming_it_and_listing_the_registered_ones()
    {
        var e = LoadFails(Ok, "id = tables, description = d, kind = important, weight = 3, check = { type = predicate, name = known-tabels }");
        Assert.Contains("criterion 'tables'", e.Message);
        Assert.Contains("predicate 'known-tabels' is not registered (registered: known-tables, sql-parses)", e.Message);

        var readOnly = LoadFails(Ok, "id = ro, description = d, kind = essential, weight = 5, check = { type = read-only }");
        Assert.Contains("predicate 'read-only' is not registered", readOnly.Message);
    }

    [Theory]
    [InlineData("check = { type = regexp, pattern = x }", "unknown check type 'regexp' (known: regex, contains")]
    [InlineData("check = { type = regex, pattern = \"(unclosed\" }", "bad regex pattern")]
    [InlineData("check = { type = regex, pattern = x, flags = [shout] }", "unknown regex flag 'shout'")]
    [InlineData("check = { type = regex, pattern = x, flags = [must-match, must-not-match] }", "both must-match and must-not-match")]
    [InlineData("check = { type = regex }", "missing field 'pattern'")]
    [InlineData("check = { type = json-schema, schema = { type = 5 } }", "not a valid JSON Schema")]
    [InlineData("check = { type = json-schema, schema = { minLength = \"long\" } }", "not a valid JSON Schema")]
    [InlineData("check = { type = json-schema, schema = \"{ not json\" }", "not a valid JSON Schema")]
    [InlineData("check = { type = json-schema, schema-file = missing.json }", "cannot be read")]
    [InlineData("check = { type = json-schema }", "exactly one of 'schema'")]
    [InlineData("check = { type = length }", "at least one of min-chars")]
    [InlineData("check = { type = length, min-chars = 9, max-chars = 3 }", "greater than max-chars")]
    [InlineData("check = { type = length, max-chars = 2.5 }", "whole number")]
    [InlineData("check = { type = contains }", "missing field 'value'")]
    [InlineData("check = { type = contains, value = [] }", "non-empty")]
    [InlineData("check = { type = principle }", "missing field 'text'")]
    [InlineData("check = { type = contains, value = x, ignorecase = true }", "unknown field 'ignorecase'")]
    [InlineData("check = { type = contains, value = x }, skip-without-judge = true", "skip-without-judge only applies to principle checks")]
    [InlineData("check = { type = contains, value = x }, wieght = 5", "unknown field 'wieght'")]
    public void A_bad_check_must_fail_naming_the_criterion_and_the_fault(string rest, string expected)
    {
        var e = LoadFails(Ok, $"id = broken, description = d, kind = essential, weight = 5, {rest}");
        Assert.Contains("criterion 'broken'", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("description = d, kind = essential, weight = 5, check = { type = contains, value = x }", "criteria[1]: missing field 'id'")]
    [InlineData("id = c, kind = essential, weight = 5, check = { type = contains, value = x }", "criterion 'c': missing field 'description'")]
    [InlineData("id = c, description = d, weight = 5, check = { type = contains, value = x }", "criterion 'c': missing field 'kind'")]
    [InlineData("id = c, description = d, kind = essential, check = { type = contains, value = x }", "criterion 'c': missing field 'weight'")]
    [InlineData("id = c, description = d, kind = essential, weight = 5", "criterion 'c': missing field 'check'")]
    [InlineData("id = c, description = d, kind = essential, weight = 5, check = { value = x }", "criterion 'c': check: missing field 'type'")]
    [InlineData("id = c, description = d, kind = vital, weight = 5, check = { type = contains, value = x }", "kind = 'vital' is not one of")]
    [InlineData("id = c, description = d, kind = essential, weight = heavy, check = { type = contains, value = x }", "'weight' must be a number")]
    [InlineData("id = \"two words\", description = d, kind = essential, weight = 5, check = { type = contains, value = x }", "criterion id 'two words'")]
    [InlineData("id = ok, description = d, kind = essential, weight = 5, check = { type = contains, value = y }", "criterion 'ok': duplicate id")]
    public void A_missing_or_malformed_field_must_fail_naming_it(string criterion, string expected)
        => Assert.Contains(expected, LoadFails(Ok, criterion).Message);

    [Fact]
    public void Rubric_level_problems_must_fail_naming_the_file()
    {
        Assert.Contains("no 'rubric { ... }' object", Assert.Throws<ConfigException>(() => RubricFile.Load(_kit.Write("a.conf", "rubrik { }"), Predicates)).Message);
        Assert.Contains("missing field 'name'", Assert.Throws<ConfigException>(() => RubricFile.Load(
            _kit.Write("b.conf", $"rubric {{ criteria = [ {{ {Ok} }} ] }}"), Predicates)).Message);
        Assert.Contains("criteria is empty", Assert.Throws<ConfigException>(() => RubricFile.Load(
            _kit.Write("c.conf", "rubric { name = x, criteria = [] }"), Predicates)).Message);
        Assert.Contains("judge-batching = 'batched'", Assert.Throws<ConfigException>(() => RubricFile.Load(
            _kit.Write("d.conf", RubricTestKit.HoconText([Ok], "judge-batching = batched")), Predicates)).Message);
        Assert.Contains("at least one criterion with a positive weight", Assert.Throws<ConfigException>(() => RubricFile.Load(
            _kit.Hocon("id = p, description = d, kind = pitfall, weight = -1, check = { type = contains, value = x }"), Predicates)).Message);
        Assert.Contains("not valid JSON", Assert.Throws<ConfigException>(() => RubricFile.Load(_kit.Write("e.json", "{ \"rubric\": "), Predicates)).Message);
        var missing = Path.Combine(_kit.Directory, "nope.conf");
        Assert.Contains(missing, Assert.Throws<ConfigException>(() => RubricFile.Load(missing, Predicates)).Message);
    }

    [Fact]
    public void A_rubric_file_must_load_every_field_it_declares()
    {
        var rubric = RubricFile.Load(_kit.Write("full.conf", """
            rubric {
              name = full
              judge-batching = all-in-one
              criteria = [
                { id = a, description = "first one", kind = essential, weight = 5, check { type = regex, pattern = "x", flags = [ignore-case, must-not-match] } }
                { id = b, description = "second", kind = pitfall, weight = -1.5, check { type = predicate, name = known-tables } }
                { id = c, description = "third", kind = optional, weight = 1, skip-without-judge = yes, check { type = principle, text = "Be kind." } }
              ]
            }
            """), Predicates);

        Assert.Equal(("full", CriterionBatching.AllInOne), (rubric.Name, rubric.JudgeBatching));
        Assert.Equal(["a", "b", "c"], rubric.Criteria.Select(c => c.Id));
        var a = Assert.IsType<RegexCheck>(rubric.Criteria[0].Check);
        Assert.False(a.MustMatch);
        Assert.True(a.Regex.Options.HasFlag(System.Text.RegularExpressions.RegexOptions.IgnoreCase));
        Assert.Equal((CriterionKind.Pitfall, -1.5), (rubric.Criteria[1].Kind, rubric.Criteria[1].Weight));
        Assert.Equal("known-tables", Assert.IsType<PredicateCheck>(rubric.Criteria[1].Check).Name);
        Assert.Equal("Be kind.", Assert.IsType<PrincipleCheck>(rubric.Criteria[2].Check).Text);
        Assert.True(rubric.Criteria[2].SkipWithoutJudge);
        Assert.True(rubric.HasPrinciples);
    }

    [Fact]
    public void A_rubric_built_in_code_must_follow_the_same_rules()
    {
        var check = new ContainsCheck(["x"]);
        Assert.Contains("does not match kind important",
            Assert.Throws<ConfigException>(() => new Rubric("r", [new RubricCriterion("a", "d", 5, CriterionKind.Important, check)])).Message);
        Assert.Contains("duplicate id", Assert.Throws<ConfigException>(() => new Rubric("r",
            [new RubricCriterion("a", "d", 5, CriterionKind.Essential, check), new RubricCriterion("a", "d", 5, CriterionKind.Essential, check)])).Message);
    }

    public void Dispose() => _kit.Dispose();
}
