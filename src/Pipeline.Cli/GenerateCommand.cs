using System.CommandLine;
using Pipeline.Core.Configuration;
using Pipeline.Learning.Hf;
using Pipeline.Learning.Hf.Chat;
using Pipeline.Learning.Policy;

namespace Pipeline.Cli;

/// <summary><c>pipeline generate</c>: load a Hugging Face Llama folder and continue a prompt.</summary>
internal static class GenerateCommand
{
    private static readonly Option<DirectoryInfo> Model = new("--model") { Description = "A Hugging Face Llama folder (config.json, model.safetensors, tokenizer.json).", Required = true };
    private static readonly Option<string> Prompt = new("--prompt") { Description = "Text to continue (default: none, start from BOS).", DefaultValueFactory = _ => "" };
    private static readonly Option<int> MaxTokens = new("--max-tokens") { Description = "New tokens to generate at most.", DefaultValueFactory = _ => 256 };
    private static readonly Option<double> Temperature = new("--temperature") { Description = "0 = greedy; otherwise softmax temperature.", DefaultValueFactory = _ => 1.0 };
    private static readonly Option<double> TopP = new("--top-p") { Description = "Nucleus sampling mass in (0, 1].", DefaultValueFactory = _ => 0.9 };
    private static readonly Option<int> Seed = new("--seed") { Description = "Seed of the sampler.", DefaultValueFactory = _ => 42 };
    private static readonly Option<bool> Ids = new("--ids") { Description = "Also print the generated token ids (a last line 'ids: ...')." };
    private static readonly Option<bool> Chat = new("--chat") { Description = "Render --prompt as one user turn through the folder's chat template (with the generation prompt) before encoding." };
    private static readonly Option<FileInfo?> ChatTemplateFile = new("--chat-template") { Description = "Your own Jinja chat template file (implies --chat); the folder's special tokens are its bos_token/eos_token." };

    public static Command Create()
    {
        var command = new Command("generate", "Continue a prompt with a Hugging Face Llama model folder (e.g. one written by pipeline model import-llama2c).")
        {
            Model, Prompt, MaxTokens, Temperature, TopP, Seed, Ids, Chat, ChatTemplateFile,
        };
        command.SetAction((parse, ct) => Task.FromResult(Execute(parse, ct)));
        return command;
    }

    private static int Execute(ParseResult parse, CancellationToken ct)
    {
        var maxTokens = parse.GetValue(MaxTokens);
        var temperature = parse.GetValue(Temperature);
        var topP = parse.GetValue(TopP);
        if (maxTokens < 1) throw new ConfigException($"--max-tokens must be at least 1, got {maxTokens}");
        if (!(temperature >= 0)) throw new ConfigException($"--temperature must be >= 0, got {temperature}");
        if (!(topP > 0 && topP <= 1)) throw new ConfigException($"--top-p must be in (0, 1], got {topP}");

        var folder = parse.GetValue(Model)!.FullName;
        var templateFile = parse.GetValue(ChatTemplateFile);
        var chat = templateFile is not null ? templateFile.FullName : parse.GetValue(Chat) ? "auto" : "none";
        // The same factory as train: the folder's model and tokenizer; context up to max_position_embeddings.
        var settings = new PolicySettings(0, 0, 1, 1, int.MaxValue) { Source = "hf", Path = folder, ChatTemplate = chat };
        PolicyFactory.Validate(settings);
        var tokenizer = HfPolicyTokenizer.Load(folder, LlamaConfig.Load(folder), chat);
        if (chat == "auto" && tokenizer.Template is null)
            throw new ConfigException($"model folder {folder} has no chat template ({ChatTemplate.TemplateFileName} or {ChatTemplate.TokenizerConfigFileName}'s chat_template); pass --chat-template FILE or leave out --chat");
        var policy = PolicyFactory.From(settings, tokenizer);
        using var model = policy.Create(parse.GetValue(Seed));
        int[] prompt;
        try
        {
            prompt = tokenizer.EncodePrompt(parse.GetValue(Prompt) ?? "");
        }
        catch (ArgumentException e)
        {
            throw new ConfigException($"--prompt: {e.Message}");
        }
        if (prompt.Length + maxTokens > model.ContextLength)
            throw new ConfigException($"--max-tokens {maxTokens} plus the {prompt.Length} prompt tokens exceed max_position_embeddings {model.ContextLength} in config.json");

        var generated = LlamaGenerator.Generate(model, prompt, maxTokens, new SamplingOptions(temperature, topP, parse.GetValue(Seed)),
            tokenizer.StopTokens.ToHashSet(), ct);
        // Decode prompt and completion together (word-initial spaces depend on the neighbour) and print what is new.
        var head = tokenizer.Decode(prompt);
        var full = tokenizer.Decode([.. prompt, .. generated]);
        Console.WriteLine(full.StartsWith(head, StringComparison.Ordinal) ? full[head.Length..] : tokenizer.Decode([.. generated]));
        if (parse.GetValue(Ids)) Console.WriteLine("ids: " + string.Join(' ', generated));
        return ExitCodes.Ok;
    }
}
