namespace Pipeline.Cli.Tests;

/// <summary><c>pipeline generate --chat</c> on the imported stories260K folder (../shared/fixtures/stories260K).</summary>
public sealed class ChatGenerateSpec : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-chat-").FullName;

    private static string Fixture => Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "fixtures", "stories260K"));

    public void Dispose() => Directory.Delete(_dir, true);

    private string Import()
    {
        var output = Path.Combine(_dir, "stories260K");
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "model", "import-llama2c",
            Path.Combine(Fixture, "stories260K.bin"), Path.Combine(Fixture, "tok512.bin"), output);
        Assert.True(code == 0, $"import exited {code}: {stderr}");
        return output;
    }

    [Fact]
    public void Chat_on_a_folder_without_a_template_exits_with_code_2_and_says_how_to_supply_one()
    {
        var model = Import();
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", model, "--chat", "--prompt", "Hi", "--max-tokens", "3");
        Assert.Equal(2, code);
        Assert.Contains("has no chat template", stderr);
        Assert.Contains("--chat-template", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void A_template_that_starts_with_bos_gives_the_same_prompt_as_plain_generate()
    {
        // The wiring end to end; ChatPromptSpec checks the BOS rule on the ids themselves.
        var model = Import();
        var template = Path.Combine(_dir, "plain.jinja");
        File.WriteAllText(template, "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");
        var args = new[] { "--model", model, "--prompt", "Once upon a time", "--max-tokens", "20", "--temperature", "0", "--ids" };
        var plain = CliProcess.Run(RepoPaths.Root, Deadline, ["generate", .. args]);
        var chat = CliProcess.Run(RepoPaths.Root, Deadline, ["generate", .. args, "--chat-template", template]);
        Assert.True(plain.ExitCode == 0, plain.StdErr);
        Assert.True(chat.ExitCode == 0, chat.StdErr);
        Assert.Equal(plain.StdOut, chat.StdOut);
    }

    [Fact]
    public void A_template_that_raises_exits_with_code_2_naming_the_file_and_line()
    {
        var model = Import();
        var template = Path.Combine(_dir, "strict.jinja");
        File.WriteAllText(template, "{{ bos_token }}\n{% if messages | length < 2 %}{{ raise_exception('needs a system turn') }}{% endif %}");
        var (code, _, stderr) = CliProcess.Run(RepoPaths.Root, Deadline, "generate", "--model", model, "--chat-template", template, "--prompt", "Hi");
        Assert.Equal(2, code);
        Assert.Contains($"{template}, line 2: raise_exception: needs a system turn", stderr);
    }
}
