using Parquet;
using Parquet.Schema;
using Pipeline.Core.Configuration;
using Pipeline.Core.Protocol;
using Pipeline.Core.Tasks;
using Pipeline.Tasks.Jsonl;
using Xunit;

namespace Pipeline.Tasks.Tests.Jsonl;

public sealed class JsonlTaskSpec : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jsonl-task-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static JsonlTaskOptions Options(string train, string demonstrations = "", string heldout = "", bool skipInvalid = false,
        IReadOnlyDictionary<string, string>? columns = null, string evalMatch = "exact")
        => new(train, demonstrations, heldout, skipInvalid, "auto", evalMatch,
            columns ?? JsonlTaskOptions.Fields.ToDictionary(f => f, f => f));

    [Fact]
    public void Records_become_prompts_with_references_negatives_slice_rubric_and_metadata()
    {
        var rubricFile = Write("math-v1.conf", "rubric { name = math, criteria = [ { id = digit, description = \"a digit\", kind = important, weight = 3, check = { type = regex, pattern = \"[0-9]\" } } ] }");
        var train = Write("train.jsonl",
            """{"id": "q1", "prompt": "2+2?", "references": ["4", "four"], "negatives": ["5", "22"], "slice": "en", "rubric": "math-v1.conf", "metadata": {"level": 1}}""",
            "",
            """{"id": 7, "prompt": "3+3?", "reference": 6}""");
        using var task = new JsonlPipelineTask(Options(train));

        Assert.Equal(2, task.RlPrompts.Count);
        var p = task.RlPrompts[0];
        Assert.Equal("2+2?", p.Text);
        Assert.Equal("4", p.Reference);
        Assert.Equal(["4", "four"], PromptFields.ReferencesOf(p));
        Assert.Equal("5\n22", p.Tag(PromptFields.Negatives));
        Assert.Equal("en", p.Tag(PromptFields.Slice));
        Assert.Equal(rubricFile, p.Tag(PromptFields.Rubric)); // a file id is relative to the data file's folder
        Assert.Equal("""{"level": 1}""", PromptFields.MetadataOf(p));
        Assert.Equal(("7", "6", "default"), (task.RlPrompts[1].Id, task.RlPrompts[1].Reference, task.RlPrompts[1].Tag(PromptFields.Slice)));
    }

    [Fact]
    public void A_rubric_file_that_does_not_exist_or_inline_criteria_that_do_not_parse_stop_loading_at_their_line()
    {
        var missing = Write("missing.jsonl",
            """{"id": "q1", "prompt": "2+2?", "reference": "4"}""",
            """{"id": "q2", "prompt": "3+3?", "reference": "6", "rubric": "no-such-rubric.conf"}""");
        var e = Assert.Throws<ConfigException>(() => new JsonlPipelineTask(Options(missing)));
        Assert.Contains("missing.jsonl:2: field 'rubric'", e.Message);
        Assert.Contains("no-such-rubric.conf", e.Message);

        var bad = Write("bad.jsonl",
            """{"id": "q1", "prompt": "2+2?", "reference": "4", "rubric": [{"id": "x", "description": "d", "kind": "essential", "weight": 99, "check": {"type": "contains", "value": "4"}}]}""");
        var e2 = Assert.Throws<ConfigException>(() => new JsonlPipelineTask(Options(bad)));
        Assert.Contains("bad.jsonl:1: field 'rubric'", e2.Message);
        Assert.Contains("weight", e2.Message);
    }

    [Fact]
    public void Chat_messages_render_in_the_plain_format_and_keep_their_turns()
    {
        var train = Write("chat.jsonl",
            """{"id": "c1", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "reference": "4"}""");
        using var task = new JsonlPipelineTask(Options(train));
        Assert.Equal("system: Be brief.\nuser: 2+2?\nassistant:", task.RlPrompts[0].Text);
        Assert.Contains("Be brief.", task.RlPrompts[0].Tag(PromptFields.Messages));
    }

    [Theory]
    [InlineData("""{"id": "b", "prompt": "2+2?" """, "train.jsonl:2: field '(line)': not valid JSON")]
    [InlineData("""{"id": "b", "reference": "4"}""", "train.jsonl:2: field 'prompt': missing")]
    [InlineData("""{"id": "b", "prompt": "x", "negatives": "5"}""", "train.jsonl:2: field 'negatives': expected an array")]
    [InlineData("""{"id": "b", "messages": [{"role": "robot", "content": "x"}]}""", "train.jsonl:2: field 'messages': turn 0 has role 'robot'")]
    [InlineData("""{"id": "a", "prompt": "again"}""", "train.jsonl:2: field 'id': 'a' appears twice")]
    public void A_malformed_record_stops_loading_naming_file_line_and_field(string badLine, string expected)
    {
        var train = Write("train.jsonl", """{"id": "a", "prompt": "1+1?", "reference": "2"}""", badLine, """{"id": "c", "prompt": "ok"}""");
        var e = Assert.Throws<ConfigException>(() => new JsonlPipelineTask(Options(train)));
        Assert.Contains(expected, e.Message);
        Assert.Contains("skip-invalid", e.Message);
    }

    [Fact]
    public void Skip_invalid_skips_and_counts_bad_records()
    {
        var train = Write("train.jsonl", """{"id": "a", "prompt": "1+1?"}""", "not json", """{"id": "b"}""", """{"id": "c", "prompt": "ok"}""");
        var warnings = new List<string>();
        using var task = new JsonlPipelineTask(Options(train, skipInvalid: true), warn: warnings.Add);
        Assert.Equal(["a", "c"], task.RlPrompts.Select(p => p.Id));
        Assert.Equal(2, task.Report.Skipped);
        Assert.Contains("train.jsonl:2", Assert.Single(warnings));
    }

    [Fact]
    public void Held_out_records_need_a_reference_and_demonstrations_a_completion()
    {
        var train = Write("train.jsonl", """{"prompt": "x"}""");
        var heldout = Write("heldout.jsonl", """{"prompt": "y"}""");
        Assert.Contains("heldout.jsonl:1: field 'reference'", Assert.Throws<ConfigException>(() => new JsonlPipelineTask(Options(train, heldout: heldout))).Message);
        var demos = Write("demos.jsonl", """{"prompt": "y"}""");
        Assert.Contains("demos.jsonl:1: field 'completion'", Assert.Throws<ConfigException>(() => new JsonlPipelineTask(Options(train, demonstrations: demos))).Message);
        var missing = Assert.Throws<ConfigException>(() => new JsonlPipelineTask(Options(Path.Combine(_dir, "nope.jsonl"))));
        Assert.Contains("train file not found", missing.Message);
    }

    [Fact]
    public void The_column_mapping_reads_files_with_other_field_names()
    {
        var train = Write("hf.jsonl", """{"question": "2+2?", "answer": "4", "lang": "de"}""");
        var columns = JsonlTaskOptions.Fields.ToDictionary(f => f, f => f);
        columns["prompt"] = "question";
        columns["reference"] = "answer";
        columns["slice"] = "lang";
        using var task = new JsonlPipelineTask(Options(train, columns: columns));
        Assert.Equal(("2+2?", "4", "de"), (task.RlPrompts[0].Text, task.RlPrompts[0].Reference, task.RlPrompts[0].Tag(PromptFields.Slice)));
    }

    [Fact]
    public void Evaluation_is_broken_down_by_slice_with_the_configured_rule()
    {
        var train = Write("train.jsonl", """{"prompt": "x"}""");
        var heldout = Write("heldout.jsonl",
            """{"id": "e1", "prompt": "2+2?", "reference": "4", "slice": "en"}""",
            """{"id": "e2", "prompt": "3+3?", "reference": "6", "slice": "en"}""",
            """{"id": "d1", "prompt": "5+5?", "reference": "10", "slice": "de"}""");
        using var task = new JsonlPipelineTask(Options(train, heldout: heldout, evalMatch: "numeric"));
        var h = task.HeldOut;
        var report = task.Evaluate([(h[0], "It is 4"), (h[1], "6"), (h[2], "11")]);

        Assert.Equal(0.5 * 1 + 0.5 * 1, report.Slices["en"].Accuracy);          // numeric: both right
        Assert.Equal(0.5, report.Slices["en"].ExactMatch);                      // exact: only "6"
        Assert.Equal((1, 0.0), (report.Slices["de"].Count, report.Slices["de"].Accuracy));
        Assert.Equal((3, 2 / 3.0), (report.Overall.Count, report.Overall.Accuracy));
    }

    [Fact]
    public async Task Parquet_files_are_read_row_group_by_row_group_through_the_column_mapping()
    {
        var path = Path.Combine(_dir, "train.parquet");
        var question = new DataField<string>("question");
        var answer = new DataField<long>("answer");
        var slice = new DataField<string>("slice");
        var metadata = new DataField<string>("metadata");
        var schema = new ParquetSchema(question, answer, slice, metadata);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(schema, stream))
        {
            for (var g = 0; g < 2; g++)
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(question, new[] { $"{g}+1?", $"{g}+2?" });
                await group.WriteAsync<long>(answer, new long[] { g + 1, g + 2 });
                await group.WriteAsync(slice, new[] { "en", "de" });
                await group.WriteAsync(metadata, new[] { """{"g": 1}""", "not json" });
            }
        }
        var columns = JsonlTaskOptions.Fields.ToDictionary(f => f, f => f);
        columns["prompt"] = "question";
        columns["reference"] = "answer";

        using var task = new JsonlPipelineTask(Options(path, columns: columns, skipInvalid: true));

        Assert.Equal(["0+1?", "1+1?"], task.RlPrompts.Select(p => p.Text));
        Assert.Equal(["1", "2"], task.RlPrompts.Select(p => p.Reference));
        Assert.Equal(2, task.Report.Skipped);
        Assert.Contains("train.parquet: row 2: field 'metadata'", task.Report.FirstProblems[0].ToString());
    }
}
