using System.Text;

namespace Pipeline.Cli;

/// <summary>
/// An experiment's record as Markdown for docs/experiments.md: a title, what was run (commands, machine, date, total time),
/// notes, and tables. The same header and rows feed the console table, so the two never disagree.
/// </summary>
internal sealed class ExperimentMarkdown(string title)
{
    private readonly StringBuilder _text = new StringBuilder().Append("## ").Append(title).Append("\n\n");

    public ExperimentMarkdown Facts(string command, string machine, DateTimeOffset date, TimeSpan total)
    {
        _text.Append("**Command** (one command, one process):\n\n```bash\n").Append(command).Append("\n```\n\n")
            .Append("**Machine:** ").Append(machine).Append(". **Date:** ").Append(date.UtcDateTime.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture))
            .Append(" UTC. **Total run time:** ").Append(Duration(total)).Append(".\n\n");
        return this;
    }

    public ExperimentMarkdown Paragraph(string text)
    {
        _text.Append(text.Trim()).Append("\n\n");
        return this;
    }

    public ExperimentMarkdown Bullets(IEnumerable<string> items)
    {
        foreach (var item in items) _text.Append("- ").Append(item).Append('\n');
        _text.Append('\n');
        return this;
    }

    public ExperimentMarkdown Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (header.Count == 0) throw new ArgumentException("a table needs at least one column", nameof(header));
        Row(header);
        _text.Append('|').Append(string.Concat(header.Select(_ => "---|"))).Append('\n');
        var n = 0;
        foreach (var row in rows)
        {
            n++;
            if (row.Count != header.Count)
                throw new ArgumentException($"row {n} has {row.Count} cells, the header {header.Count}", nameof(rows));
            Row(row);
        }
        _text.Append('\n');
        return this;
    }

    public override string ToString() => _text.ToString();

    public static string Duration(TimeSpan t) => t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds} s" : $"{t.TotalSeconds:0.0} s";

    // A '|' inside a cell would end it, and a line break would end the row.
    private void Row(IEnumerable<string> cells)
        => _text.Append("| ").Append(string.Join(" | ", cells.Select(c => (c ?? "").Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ')))).Append(" |\n");
}
