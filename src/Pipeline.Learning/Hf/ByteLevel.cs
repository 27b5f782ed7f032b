using System.Text;

namespace Pipeline.Learning.Hf;

/// <summary>
/// GPT-2's byte-to-character table: every byte becomes one printable character, so byte-level BPE can treat any
/// UTF-8 text as a string of vocabulary symbols (space is <c>Ġ</c>, newline <c>Ċ</c>).
/// </summary>
internal static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(x => x.c, x => (byte)x.b);

    private static char[] BuildTable()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            // Printable Latin-1 bytes keep their own character; the rest move to 256 and up, in byte order.
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    public static string Encode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>The UTF-8 text the pieces spell; a piece with a character outside the table counts as its own UTF-8 (as HF).</summary>
    public static string Decode(IEnumerable<string> pieces)
    {
        var bytes = new List<byte>();
        foreach (var piece in pieces)
        {
            if (piece.All(CharToByte.ContainsKey)) bytes.AddRange(piece.Select(c => CharToByte[c]));
            else bytes.AddRange(Encoding.UTF8.GetBytes(piece));
        }
        // Invalid sequences become U+FFFD, as Rust's from_utf8_lossy in HF tokenizers.
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
