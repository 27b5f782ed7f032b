using System.Text.Json;
using Pipeline.Learning.Hf.Chat;

namespace Pipeline.Learning.Tests.Hf;

/// <summary>
/// The chat-template interpreter construct by construct: each snippet in tests/fixtures/chat/snippets.json renders as
/// Jinja2 rendered it under transformers' settings (snippets.expected.json, recorded by record.py), and the errors
/// name the template and the line.
/// </summary>
public sealed class JinjaInterpreterSpec
{
    private static readonly Lazy<(JsonDocument Snippets, JsonDocument Expected)> Fixture = new(() => (
        JsonDocument.Parse(File.ReadAllText(Path.Combine(ChatTemplateSpec.FixtureDir, "snippets.json"))),
        JsonDocument.Parse(File.ReadAllText(Path.Combine(ChatTemplateSpec.FixtureDir, "snippets.expected.json")))));

    public static TheoryData<string> Snippets()
    {
        var data = new TheoryData<string>();
        foreach (var p in Fixture.Value.Snippets.RootElement.EnumerateObject()) data.Add(p.Name);
        return data;
    }

    private static string Render(string source, IReadOnlyDictionary<string, object?>? variables = null, Func<DateTime>? clock = null) =>
        ChatTemplate.FromString(source, "snippet.jinja", clock: clock).Render([], false, variables);

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_renders_as_jinja2_does(string name)
    {
        var snippet = Fixture.Value.Snippets.RootElement.GetProperty(name);
        var expected = Fixture.Value.Expected.RootElement.GetProperty("snippets").GetProperty(name);
        var variables = snippet.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
        var source = snippet.GetProperty("template").GetString()!;
        if (expected.TryGetProperty("error", out var error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => Render(source, variables));
            Assert.Equal("snippet.jinja", e.Template);
            Assert.True(e.Line >= 1, $"{name}: Jinja2 failed with {error.GetString()}, ours with {e.Message}");
        }
        else
        {
            Assert.Equal(expected.GetProperty("expected").GetString(), Render(source, variables));
        }
    }

    [Fact]
    public void An_unknown_filter_names_the_filter_the_template_and_the_line()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("line one\n{{ 'x' | nosuchfilter }}"));
        Assert.Equal("snippet.jinja, line 2: unknown filter 'nosuchfilter'", e.Message);
    }

    [Fact]
    public void Raise_exception_carries_the_templates_message_and_line()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("a\nb\n{{ raise_exception('bad roles') }}"));
        Assert.Equal(3, e.Line);
        Assert.Equal("snippet.jinja, line 3: raise_exception: bad roles", e.Message);
    }

    [Fact]
    public void An_unsupported_statement_is_refused_when_the_template_is_read()
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromString("ok\n\n{% include 'other.jinja' %}", "mine.jinja"));
        Assert.Equal(3, e.Line);
        Assert.Contains("mine.jinja", e.Message);
        Assert.Contains("unsupported statement '{% include %}'", e.Message);
    }

    [Fact]
    public void An_unclosed_block_names_the_line_it_was_opened_on()
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromString("x\n{% for m in messages %}\n{{ m }}", "t.jinja"));
        Assert.Contains("opened on line 2 is never closed", e.Message);
    }

    [Fact]
    public void Setting_an_attribute_on_anything_but_a_namespace_is_refused()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% set d = {} %}\n{% set d.x = 1 %}"));
        Assert.Equal(2, e.Line);
        Assert.Contains("only a namespace() can be changed", e.Message);
    }

    [Fact]
    public void A_runaway_loop_stops_with_an_error_instead_of_hanging()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% for i in range(2000) %}\n{% for j in range(2000) %}{% endfor %}{% endfor %}"));
        Assert.Equal(2, e.Line);
        Assert.Contains("more than 1000000 loop iterations", e.Message);
    }

    [Fact]
    public void A_recursive_macro_stops_with_an_error_instead_of_overflowing_the_stack()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
        Assert.Contains("macro 'f' nested more than 64 calls deep", e.Message);
    }

    [Fact]
    public void Strftime_now_formats_the_clock_as_python_does()
    {
        var text = Render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}", clock: () => new DateTime(2024, 7, 6, 9, 5, 0));
        Assert.Equal("06 Jul 2024|2024-07-06 09:05", text);
    }

    [Fact]
    public void Tojson_keeps_non_ascii_and_indents_as_pythons_json_dumps()
    {
        var tools = JsonDocument.Parse("""[{"name": "f", "d": "Größe ✓", "n": [1, 2.5, {}], "e": []}]""").RootElement;
        var text = Render("{{ tools | tojson }}\n{{ tools[0] | tojson(indent=2) }}", new Dictionary<string, object?> { ["tools"] = tools });
        Assert.Equal("""
            [{"name": "f", "d": "Größe ✓", "n": [1, 2.5, {}], "e": []}]
            {
              "name": "f",
              "d": "Größe ✓",
              "n": [
                1,
                2.5,
                {}
              ],
              "e": []
            }
            """, text);
    }

    [Fact]
    public void Clr_values_reach_the_template_as_python_values()
    {
        var text = Render("{{ n + 1 }} {{ flag }} {{ xs | join('-') }} {{ d.k }}", new Dictionary<string, object?>
        {
            ["n"] = 41,
            ["flag"] = false,
            ["xs"] = new[] { "a", "b" },
            ["d"] = new Dictionary<string, object?> { ["k"] = "v" },
        });
        Assert.Equal("42 False a-b v", text);
    }
}
